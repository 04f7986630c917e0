"""The private document storage full, read-only, or raced: an upload that
cannot be stored is a clear message on the form, nothing is written to the
database, and no file is left behind, whole or partial; the losers of a race
leave no file either."""

import contextlib
import errno
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core import documents
from hmis_portal.core.models import AuditEvent
from onboarding.models import AgreementCopy, OrganizationAgreement
from tests.factories import MembershipFactory, OrganizationFactory
from tests.onboarding.factories import PDF

STORAGE_FULL = "could not be stored"
# A scan bigger than what a full disk lets through, so that a partial file is written.
SCAN = PDF + b"0" * (64 * 1024)


def stored_files(root) -> set[str]:
    root = Path(root)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def upload():
    return SimpleUploadedFile("scan.pdf", SCAN, content_type="application/pdf")


@pytest.fixture
def full_disk(monkeypatch):
    """The disk fills up after 16 KiB of the file are written, as it did in production."""
    partial = []

    def save(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        content.seek(0)
        with open(path, "wb") as handle:
            handle.write(content.read(16384))
        partial.append(path)
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    return partial


@contextlib.contextmanager
def mounted_storage(monkeypatch, options):
    """The private storage on a small file system of its own (tmpfs, mounted with `options`)."""
    folder = tempfile.mkdtemp(prefix="hmis-storage-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", folder], capture_output=True)
    if mounted.returncode != 0:
        os.rmdir(folder)
        pytest.skip("mounting a file system needs privileges this machine does not give")
    monkeypatch.setattr(documents.private_storage, "_wrapped", FileSystemStorage(location=folder))
    try:
        yield folder
    finally:
        monkeypatch.undo()
        subprocess.run(["umount", folder], check=True)
        os.rmdir(folder)


@pytest.fixture
def read_only_storage(monkeypatch):
    with mounted_storage(monkeypatch, "ro,size=1m") as folder:
        yield folder


@pytest.fixture
def tiny_storage(monkeypatch):
    """A real disk with room for 16 KiB: the storage's own write runs out of space."""
    with mounted_storage(monkeypatch, "size=16k") as folder:
        yield folder


def _upload_agreement(client):
    organization = OrganizationFactory()
    client.force_login(MembershipFactory(organization=organization, persona="executive_director").user)
    return client.post(f"/onboarding/agencies/{organization.slug}/agreement/upload/", {
        "signer_name": "Dana Example", "signer_title": "Executive Director", "signed_on": "2026-01-05",
        "document": upload()})


def _upload_certificate(client):
    from training.models import Course

    client.force_login(MembershipFactory(persona="staff").user)
    return client.post(reverse("training:certificate-upload"), {
        "course": Course.objects.get(code="hmis-10").pk, "completed_on": timezone.localdate().isoformat(),
        "document": upload()})


def _upload_form(client):
    client.force_login(MembershipFactory(persona="staff").user)
    return client.post(reverse("training:form-upload", args=["user-agreement"]), {"document": upload()})


def _nothing_recorded():
    from training.models import Certificate, FormSignature, FormSubmission

    return not (OrganizationAgreement.objects.exists() or AgreementCopy.objects.exists()
                or Certificate.objects.exists() or FormSubmission.objects.exists() or FormSignature.objects.exists()
                or AuditEvent.objects.filter(verb__in=["started agreement", "uploaded certificate",
                                                       "uploaded form"]).exists())


UPLOADS = [_upload_agreement, _upload_certificate, _upload_form]


@pytest.mark.django_db
@pytest.mark.parametrize("post", UPLOADS, ids=lambda f: f.__name__)
def test_a_full_disk_is_a_message_on_the_form_with_nothing_written_and_no_partial_file(
        client, settings, full_disk, post, policy_rows):
    before = stored_files(settings.PRIVATE_MEDIA_ROOT)
    response = post(client)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get("document", []))
    assert STORAGE_FULL in errors and "Nothing was saved" in errors
    assert full_disk, "the storage was never asked to write"
    assert stored_files(settings.PRIVATE_MEDIA_ROOT) == before
    assert _nothing_recorded()


@pytest.mark.django_db
@pytest.mark.parametrize("post", UPLOADS, ids=lambda f: f.__name__)
def test_a_read_only_storage_is_a_message_on_the_form_with_nothing_written(client, read_only_storage, post,
                                                                          policy_rows):
    response = post(client)
    assert response.status_code == 200
    assert STORAGE_FULL in " ".join(response.context["form"].errors.get("document", []))
    assert stored_files(read_only_storage) == set()
    assert _nothing_recorded()


@pytest.mark.django_db
def test_a_disk_that_really_fills_up_leaves_no_partial_file(client, tiny_storage, policy_rows):
    response = _upload_agreement(client)
    assert response.status_code == 200
    assert STORAGE_FULL in " ".join(response.context["form"].errors["document"])
    assert stored_files(tiny_storage) == set()
    assert _nothing_recorded()


def test_a_file_stored_by_a_change_that_then_fails_is_deleted(settings, db):
    before = stored_files(settings.PRIVATE_MEDIA_ROOT)
    copy = AgreementCopy()
    with pytest.raises(RuntimeError):
        with documents.atomic():
            documents.attach(copy, "document", upload())
            assert stored_files(settings.PRIVATE_MEDIA_ROOT) - before == {copy.document.name}
            raise RuntimeError("the change failed after the file was stored")
    assert stored_files(settings.PRIVATE_MEDIA_ROOT) == before


def test_a_file_stored_by_a_change_that_commits_is_kept(settings, db):
    before = stored_files(settings.PRIVATE_MEDIA_ROOT)
    copy = AgreementCopy()
    with documents.atomic():
        with documents.atomic():
            documents.attach(copy, "document", upload())
    assert stored_files(settings.PRIVATE_MEDIA_ROOT) - before == {copy.document.name}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_losers_of_twenty_concurrent_signature_uploads_leave_no_file(settings, policy_rows):
    from tests.concurrency import race
    from tests.two_factor import PortalClient
    from training.models import FormSignature, FormSubmission

    person = MembershipFactory(persona="staff").user
    before = stored_files(settings.PRIVATE_MEDIA_ROOT)
    clients = [PortalClient() for _ in range(20)]
    statuses = []

    def click(each):
        def call():
            each.force_login(person)
            statuses.append(each.post(reverse("training:form-upload", args=["user-agreement"]),
                                      {"document": upload()}).status_code)
        return call

    outcomes = race(*(click(each) for each in clients))
    assert outcomes == ["done"] * 20, outcomes
    assert all(status < 500 for status in statuses), statuses
    referenced = {name for model in (FormSignature, FormSubmission)
                  for name in model.objects.filter(document__gt="").values_list("document", flat=True)}
    assert referenced
    assert stored_files(settings.PRIVATE_MEDIA_ROOT) - before == referenced


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_losers_of_twenty_concurrent_blank_agreement_uploads_leave_no_file(settings, policy_rows):
    """Each upload stores its file, then inserts the next version: the
    database lets one through, and the others' files are deleted."""
    from onboarding import services
    from onboarding.models import AgreementTemplate
    from tests.concurrency import race
    from tests.factories import StaffFactory

    implementers = [StaffFactory(groups=["CoC implementation"]) for _ in range(20)]
    before = stored_files(settings.PRIVATE_MEDIA_ROOT)
    outcomes = race(*(
        (lambda actor=actor: services.agreement_template_upload(actor=actor, document=upload()))
        for actor in implementers))
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    referenced = set(AgreementTemplate.objects.values_list("document", flat=True))
    assert len(referenced) == outcomes.count("done") >= 1
    assert outcomes.count("done") < 20, "no race happened"
    assert stored_files(settings.PRIVATE_MEDIA_ROOT) - before == referenced


# --- a block that succeeds inside a transaction that does not --------------------------------------------------------

@pytest.fixture
def storage_folder(tmp_path, monkeypatch):
    """The private storage on a real folder of this test's own."""
    monkeypatch.setattr(documents.private_storage, "_wrapped", FileSystemStorage(location=tmp_path))
    return tmp_path


def test_a_file_stored_inside_a_plain_transaction_that_rolls_back_is_deleted(storage_folder, db):
    from django.db import transaction

    copy = AgreementCopy()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            with documents.atomic():
                documents.attach(copy, "document", upload())
            assert stored_files(storage_folder) == {copy.document.name}
            raise RuntimeError("the change around the upload failed after it")
    assert stored_files(storage_folder) == set()


def test_a_file_is_deleted_when_a_transaction_further_out_is_marked_for_rollback(storage_folder, db):
    from django.db import transaction

    with transaction.atomic():
        with transaction.atomic():
            with documents.atomic():
                with documents.atomic():
                    documents.attach(AgreementCopy(), "document", upload())
        assert len(stored_files(storage_folder)) == 1
        transaction.set_rollback(True)
    assert stored_files(storage_folder) == set()


@pytest.mark.django_db(transaction=True)
def test_a_file_stored_inside_a_plain_transaction_that_commits_is_kept(storage_folder, policy_rows):
    from django.db import transaction

    from onboarding import services
    from onboarding.models import AgreementTemplate
    from tests.factories import StaffFactory

    implementer = StaffFactory(groups=["CoC implementation"])
    with transaction.atomic():
        services.agreement_template_upload(actor=implementer, document=upload())
    template = AgreementTemplate.objects.latest("version")
    assert template.document.name in stored_files(storage_folder)


@pytest.mark.django_db(transaction=True)
def test_a_recorded_file_is_kept_even_when_the_commit_hooks_are_cut_short(storage_folder, policy_rows):
    """A hook registered before the upload's raises after the commit: Django
    drops the rest of the hooks, the upload's among them, yet its row was
    committed and its file stays."""
    from django.db import transaction

    from onboarding import services
    from onboarding.models import AgreementTemplate
    from tests.factories import StaffFactory

    implementer = StaffFactory(groups=["CoC implementation"])

    def broken_hook():
        raise RuntimeError("a hook before the upload's failed")

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            transaction.on_commit(broken_hook)
            services.agreement_template_upload(actor=implementer, document=upload())
    template = AgreementTemplate.objects.latest("version")
    assert template.document.name in stored_files(storage_folder)
