"""An upload over the document limit is refused while it streams: at most the
limit is ever written to the temporary file, the form says how big it was, and
nothing is stored."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from hmis_portal.core import documents
from onboarding.models import AgreementCopy, OrganizationAgreement
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
CHUNK = 64 * 1024


def stream(handler, total, first=b"%PDF-1.4\n"):
    handler.new_file("document", "scan.pdf", "application/pdf", total)
    sent = 0
    while sent < total:
        chunk = (first if sent == 0 else b"") + b"0" * (min(CHUNK, total - sent) - (len(first) if sent == 0 else 0))
        assert handler.receive_data_chunk(chunk, sent) is None
        sent += len(chunk)
    return handler.file_complete(sent)


def test_the_handler_stops_writing_at_the_limit_and_reports_the_real_size(settings):
    settings.DOCUMENT_MAX_BYTES = 100 * 1024
    uploaded = stream(documents.SizeLimitedUploadHandler(), 50 * 1024 * 1024)
    try:
        assert uploaded.size == 50 * 1024 * 1024 and uploaded.over_limit
        assert os.path.getsize(uploaded.temporary_file_path()) <= settings.DOCUMENT_MAX_BYTES
        with pytest.raises(documents.ValidationError, match="the limit is 100"):
            documents.validate_document(uploaded)
    finally:
        uploaded.close()


def test_a_file_within_the_limit_is_kept_whole(settings):
    settings.DOCUMENT_MAX_BYTES = 1024 * 1024
    uploaded = stream(documents.SizeLimitedUploadHandler(), 300 * 1024)
    try:
        assert uploaded.size == os.path.getsize(uploaded.temporary_file_path()) == 300 * 1024
        assert not uploaded.over_limit
        assert documents.validate_document(uploaded) == "pdf"
    finally:
        uploaded.close()


def test_the_portal_streams_uploads_through_the_bounded_handler(settings):
    assert settings.FILE_UPLOAD_HANDLERS[-1] == "hmis_portal.core.documents.SizeLimitedUploadHandler"
    assert issubclass(documents.SizeLimitedUploadHandler, TemporaryFileUploadHandler)


def test_an_oversized_agreement_is_a_form_error_and_nothing_is_written(client, settings, monkeypatch):
    settings.DOCUMENT_MAX_BYTES = 200 * 1024
    written = []
    complete = documents.SizeLimitedUploadHandler.file_complete

    def watch(self, file_size):
        uploaded = complete(self, file_size)
        written.append(os.path.getsize(uploaded.temporary_file_path()))
        return uploaded

    monkeypatch.setattr(documents.SizeLimitedUploadHandler, "file_complete", watch)
    organization = OrganizationFactory()
    client.force_login(MembershipFactory(organization=organization, persona="executive_director").user)
    stored_before = sorted(os.listdir(settings.PRIVATE_MEDIA_ROOT))
    big = SimpleUploadedFile("scan.pdf", b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024), content_type="application/pdf")
    response = client.post(f"/onboarding/agencies/{organization.slug}/agreement/upload/", {
        "signer_name": "Dana Example", "signer_title": "Executive Director", "signed_on": "2026-01-05",
        "document": big})
    assert response.status_code == 200
    assert "the limit is 200" in " ".join(response.context["form"].errors["document"])
    assert written and max(written) <= settings.DOCUMENT_MAX_BYTES
    assert not OrganizationAgreement.objects.exists() and not AgreementCopy.objects.exists()
    assert sorted(os.listdir(settings.PRIVATE_MEDIA_ROOT)) == stored_before
