"""Private documents: signed agreements, acknowledgements, certificates.

Files are checked by their content (magic bytes, never the name), limited in
size, stored in the "private" storage (no public URL) under a random name, and
served only through `document_response`, which the caller reaches after its
own access check, as an attachment.
"""

import contextlib
import contextvars
import logging
import mimetypes
import uuid
import weakref

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import transaction
from django.http import FileResponse, Http404
from django.utils.deconstruct import deconstructible
from django.utils.functional import LazyObject
from django.template.defaultfilters import filesizeformat

log = logging.getLogger(__name__)

# The signature each accepted type starts with, and the extension it is stored under.
SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
}
KIND_LABELS = {"pdf": "PDF", "png": "PNG", "jpg": "JPEG"}


class PrivateStorage(LazyObject):
    def _setup(self):
        self._wrapped = storages["private"]

    def deconstruct(self):
        # Migrations name the lazy storage itself, not the concrete backend
        # with this checkout's folder, so they do not change with the machine
        # (or with the test settings) they were made on.
        return ("hmis_portal.core.documents.PrivateStorage", (), {})


private_storage = PrivateStorage()


def sniff_kind(head: bytes) -> str | None:
    for kind, prefixes in SIGNATURES.items():
        if any(head.startswith(prefix) for prefix in prefixes):
            return kind
    return None


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams an upload to a temporary file but stops writing once it passes
    the limit of the page it is sent to (DOCUMENT_MAX_BYTES, or the page's
    own in UPLOAD_MAX_BYTES_BY_VIEW): the rest is counted and dropped, never held in memory
    or on disk. The file then reports its real size and `over_limit`, so the
    form says how big it was and nothing is stored. (Small requests are kept
    in memory by Django's MemoryFileUploadHandler, listed before this one.)"""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0
        match = getattr(self.request, "resolver_match", None)
        self.limit = getattr(settings, "UPLOAD_MAX_BYTES_BY_VIEW", {}).get(
            match.view_name if match else None, settings.DOCUMENT_MAX_BYTES)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received <= self.limit:
            self.file.write(raw_data)
        return None  # nothing for later handlers: this one holds the file

    def file_complete(self, file_size):
        uploaded = super().file_complete(min(file_size, self.received))
        uploaded.size = self.received
        uploaded.over_limit = self.received > self.limit
        return uploaded


def validate_document(uploaded) -> str:
    """Check an uploaded file; return its kind ("pdf", "png", "jpg") or raise
    ValidationError with a message a person can act on. Reads 16 bytes at most."""
    if uploaded is None or uploaded.size == 0:
        raise ValidationError("The file is empty. Scan or export the signed document again and upload it.")
    if uploaded.size > settings.DOCUMENT_MAX_BYTES:
        raise ValidationError(
            f"The file is {filesizeformat(uploaded.size)}; the limit is "
            f"{filesizeformat(settings.DOCUMENT_MAX_BYTES)}. Scan at a lower resolution or as a PDF."
        )
    uploaded.seek(0)
    head = uploaded.read(16)
    uploaded.seek(0)
    kind = sniff_kind(head)
    if kind is None:
        raise ValidationError("This file is not a PDF, PNG or JPEG, whatever its name says. Upload the scan itself.")
    return kind


@deconstructible
class RandomName:
    """upload_to: a random name under `folder`, never the uploader's file name."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, instance, filename):
        kind = getattr(instance, "_document_kind", "bin")
        return f"{self.folder}/{uuid.uuid4().hex}.{kind}"

    def __eq__(self, other):
        return isinstance(other, RandomName) and other.folder == self.folder


class DocumentField(forms.FileField):
    """A form field that accepts only PDF, PNG or JPEG scans within the size limit."""

    default_help_text = "PDF, PNG or JPEG scan."

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("help_text", f"{self.default_help_text} Up to {filesizeformat(settings.DOCUMENT_MAX_BYTES)}.")
        kwargs.setdefault("widget", forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        uploaded = super().clean(data, initial)
        if uploaded:
            uploaded.document_kind = validate_document(uploaded)
        return uploaded


STORAGE_FAILED = (
    "The file could not be stored: the portal's document storage is full or cannot be written to right now. "
    "Nothing was saved. Try again later; if it keeps happening, tell the CoC's system administrators.")

# The files stored inside the innermost `atomic()` block, as (storage, name, finalizer).
_stored = contextvars.ContextVar("documents_stored", default=None)


@contextlib.contextmanager
def atomic():
    """`transaction.atomic()` for a change that stores documents: a file that
    `attach` stored inside it is deleted again when the change is not
    recorded, however the transactions around it are nested.

    - The block itself does not commit (a refusal, the loser of a race, a
      failed commit): its files are deleted as it exits.
    - The block succeeds inside an outer transaction (another `atomic()` or
      a plain `transaction.atomic()`): only the outermost transaction knows
      whether the change is recorded. Each file waits on that transaction's
      commit (`transaction.on_commit`). Django runs the hook after the
      commit, and the file is kept; a transaction or savepoint that rolls
      back (or a connection closed mid-transaction) drops the hooks
      registered inside it, and the hook's finalizer deletes the file then
      (CPython frees the dropped hook at once). An earlier hook that raises
      after a commit also drops the later hooks: then the finalizer asks the
      database whether a row refers to the file, so a recorded file is never
      lost (when the database cannot answer, the file is kept and logged).

    A process killed between storing a file and the end of its transaction
    still leaves that one file behind."""
    stored = []
    token = _stored.set(stored)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        _discard(stored)
        raise
    finally:
        _stored.reset(token)
    outer = _stored.get()
    if outer is not None:
        outer.extend(stored)


def _discard(stored) -> None:
    for storage, name, decided in stored:
        decided.detach()
        _delete(storage, name)


def _delete(storage, name) -> None:
    try:
        storage.delete(name)
    except OSError:
        log.exception("Could not delete the unrecorded document %s", name)


def _delete_unless_recorded(storage, name, model, attname) -> None:
    """The transaction that stored `name` ended without running its commit
    hook. Dropped inside a transaction (a savepoint rolled back, a connection
    closed mid-transaction) or while the outermost one rolls back (autocommit
    is still off then): nothing was recorded. Dropped with autocommit back
    on: the transaction committed and a hook before this one raised, so the
    database says whether the file is recorded (a query at the other two
    moments would open a transaction of its own, or run in one that is
    ending)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block or not connection.autocommit:
        _delete(storage, name)
        return
    try:
        recorded = model._base_manager.filter(**{attname: name}).exists()
    except Exception:  # noqa: BLE001 - a finalizer must not raise; keeping the file loses nothing
        log.warning("Kept document %s: could not check whether its change was recorded", name, exc_info=True)
        return
    if not recorded:
        _delete(storage, name)


def _wait_for_commit(storage, name, model, attname):
    """Keep `name` once the outermost transaction commits; delete it when
    that transaction drops the hook without running it (see `atomic`)."""

    def committed():
        decided.detach()

    decided = weakref.finalize(committed, _delete_unless_recorded, storage, name, model, attname)
    transaction.on_commit(committed)
    return decided


def attach(instance, field_name: str, uploaded) -> None:
    """Put a validated upload on a model's private FileField, under a random
    name with the extension of its real kind. Call it inside `atomic()`.

    When the storage cannot take the file (a full disk, a read-only or
    unmounted folder), whatever part of it was written is deleted and the
    change is refused with a message on the form's field: the caller's
    transaction then records nothing."""
    stored = _stored.get()
    if stored is None:
        raise RuntimeError("documents.attach runs inside documents.atomic(), which deletes the file again "
                           "if the change is not recorded")
    kind = getattr(uploaded, "document_kind", None) or validate_document(uploaded)
    instance._document_kind = kind
    fieldfile = getattr(instance, field_name)
    field, storage = fieldfile.field, fieldfile.storage
    # The name is chosen here, not by FieldFile.save, so that a file the
    # storage only partly wrote can be found and deleted.
    name = field.generate_filename(instance, f"upload.{kind}")
    uploaded.seek(0)
    try:
        stored_name = storage.save(name, uploaded, max_length=field.max_length)
    except OSError as exc:
        log.error("Document storage failed (%s) storing %s: %s", exc.__class__.__name__, name, exc.strerror or exc)
        _delete(storage, name)
        raise ValidationError({field_name: STORAGE_FAILED}) from exc
    fieldfile.name = stored_name
    fieldfile._committed = True
    setattr(instance, field.attname, stored_name)
    stored.append((storage, stored_name, _wait_for_commit(storage, stored_name, type(instance), field.attname)))


def document_response(fieldfile, download_name: str) -> FileResponse:
    """Serve a private file as an attachment. Call only after an access check."""
    if not fieldfile:
        raise Http404("No document")
    try:
        handle = fieldfile.open("rb")
    except FileNotFoundError as exc:
        raise Http404("Document missing from storage") from exc
    extension = fieldfile.name.rsplit(".", 1)[-1]
    content_type = mimetypes.types_map.get(f".{extension}", "application/octet-stream")
    response = FileResponse(handle, as_attachment=True, filename=f"{download_name}.{extension}",
                            content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
