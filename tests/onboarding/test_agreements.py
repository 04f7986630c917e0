import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from onboarding import selectors, services
from onboarding.models import AgreementCopy, OrganizationAgreement
from onboarding.signals import participation_changed
from tests.factories import MembershipFactory, StaffFactory
from tests.onboarding.factories import JPEG, PDF, PNG, AgreementFactory, add_copy

Status = OrganizationAgreement.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def countersigner():
    return StaffFactory(groups=["CoC implementation"], email="implementer@example.org")


@pytest.fixture
def manager(organization):
    return MembershipFactory(organization=organization, persona="program_manager").user


def upload_data(content=PDF, name="agreement.pdf", signed_on=None, **extra):
    return {
        "signer_name": "Dana Example",
        "signer_title": "Executive Director",
        "signed_on": (signed_on or dt.date.today() - dt.timedelta(days=1)).isoformat(),
        "document": SimpleUploadedFile(name, content, content_type="application/pdf"),
        **extra,
    }


def upload(client, organization, **kwargs):
    return client.post(reverse("onboarding:agreement-upload", args=[organization.slug]), upload_data(**kwargs))


def stored_files(settings):
    import os

    root = settings.STORAGES["private"]["OPTIONS"]["location"]
    found = set()
    for folder, _, files in os.walk(root):
        found |= {os.path.join(folder, f) for f in files}
    return found


# --- the ED uploads and submits ------------------------------------------------------------------------------------

def test_the_executive_director_uploads_and_submits_the_signed_agreement(client, organization, owner, countersigner):
    received = []
    participation_changed.connect(lambda sender, organization, **kw: received.append(organization), weak=False,
                                  dispatch_uid="test-agreement")
    try:
        client.force_login(owner)
        response = upload(client, organization, name="Our Agreement (signed).pdf")
    finally:
        participation_changed.disconnect(dispatch_uid="test-agreement")
    agreement = OrganizationAgreement.objects.get(organization=organization)
    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:agreement-detail", args=[agreement.pk])
    assert agreement.status == Status.SUBMITTED
    assert (agreement.signer_name, agreement.submitted_by) == ("Dana Example", owner)
    copy = agreement.copies.get()
    # Stored under a random name with the real kind's extension, never the uploader's name.
    assert copy.document.name.startswith("agreements/") and copy.document.name.endswith(".pdf")
    assert "Agreement" not in copy.document.name
    assert copy.document.read() == PDF
    assert [e.verb for e in events_for(agreement)] == ["submitted agreement", "uploaded copy 1", "started agreement"]
    note = Notification.objects.get(to_email="implementer@example.org")
    assert "countersign" in note.subject.lower() and organization.name in note.subject
    assert received == [organization]
    assert selectors.participation_stage(organization) == "agreement_submitted"


@pytest.mark.parametrize("content,kind", [(PNG, "png"), (JPEG, "jpg")])
def test_png_and_jpeg_scans_are_accepted_and_stored_as_what_they_are(client, organization, owner, content, kind):
    client.force_login(owner)
    upload(client, organization, content=content, name="scan.pdf")
    assert AgreementCopy.objects.get().document.name.endswith(f".{kind}")


def test_a_draft_is_kept_until_the_director_submits_it(client, organization, owner):
    client.force_login(owner)
    upload(client, organization, action="draft")
    agreement = OrganizationAgreement.objects.get()
    assert agreement.status == Status.DRAFT
    assert selectors.participation_stage(organization) == "agreement_draft"
    client.post(reverse("onboarding:agreement-submit", args=[agreement.pk]))
    agreement.refresh_from_db()
    assert agreement.status == Status.SUBMITTED


# --- bad input: a clear message and nothing written ----------------------------------------------------------------

@pytest.mark.parametrize(
    "content,name,message",
    [
        (b"GIF89a\x01\x00\x01\x00" + b"\x00" * 40, "agreement.pdf", "not a PDF, PNG or JPEG"),
        (b"PK\x03\x04 this is a word document", "agreement.jpg", "not a PDF, PNG or JPEG"),
        (b"", "agreement.pdf", "empty"),
    ],
    ids=["gif-named-pdf", "docx-named-jpg", "empty"],
)
def test_a_disguised_or_empty_file_is_refused_and_nothing_is_written(client, organization, owner, settings,
                                                                       content, name, message):
    before = stored_files(settings)
    client.force_login(owner)
    response = upload(client, organization, content=content, name=name)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not OrganizationAgreement.objects.exists() and not AgreementCopy.objects.exists()
    assert stored_files(settings) == before
    assert not Notification.objects.exists()


def test_an_oversized_file_is_refused(client, organization, owner, settings):
    settings.DOCUMENT_MAX_BYTES = 1024
    client.force_login(owner)
    response = upload(client, organization, content=PDF + b"0" * 2048)
    assert "the limit is 1.0" in response.content.decode()
    assert not OrganizationAgreement.objects.exists()


def test_a_signing_date_in_the_future_is_refused(client, organization, owner):
    client.force_login(owner)
    response = upload(client, organization, signed_on=dt.date.today() + dt.timedelta(days=2))
    assert "cannot be in the future" in response.content.decode()
    assert not OrganizationAgreement.objects.exists()
    # The service refuses it too, whoever calls it.
    with pytest.raises(ValidationError, match="future"):
        services.agreement_upload(actor=owner, organization=organization,
                                  upload=SimpleUploadedFile("a.pdf", PDF), signer_name="Dana",
                                  signer_title="ED", signed_on=dt.date.today() + dt.timedelta(days=1))
    assert not AgreementCopy.objects.exists()


def test_a_second_submission_while_one_is_pending_changes_nothing(client, organization, owner):
    client.force_login(owner)
    upload(client, organization)
    response = upload(client, organization, content=PNG)
    assert response.status_code == 302
    assert AgreementCopy.objects.count() == 1
    follow = client.get(response["Location"])
    assert "already waiting for the CoC" in follow.content.decode()
    with pytest.raises(ValidationError, match="already waiting"):
        services.agreement_upload(actor=owner, organization=organization, upload=SimpleUploadedFile("a.pdf", PDF),
                                  signer_name="Dana", signer_title="ED", signed_on=dt.date.today())
    assert OrganizationAgreement.objects.count() == 1 and AgreementCopy.objects.count() == 1


def test_only_the_executive_director_may_upload(client, organization, manager):
    client.force_login(manager)
    assert upload(client, organization).status_code == 403
    with pytest.raises(PermissionDenied):
        services.agreement_upload(actor=manager, organization=organization, upload=SimpleUploadedFile("a.pdf", PDF),
                                  signer_name="Pat", signer_title="PM", signed_on=dt.date.today())
    assert not OrganizationAgreement.objects.exists()


def test_an_agency_user_guessing_another_agencys_urls_gets_404(client, organization, owner, outsider):
    agreement = AgreementFactory(organization=organization)
    add_copy(agreement)
    client.force_login(outsider)
    for url in (reverse("onboarding:agreement-detail", args=[agreement.pk]),
                reverse("onboarding:agreement-copy", args=[agreement.pk, 1]),
                reverse("onboarding:participation", args=[organization.slug]),
                reverse("onboarding:agreement-upload", args=[organization.slug])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("onboarding:agreement-submit", args=[agreement.pk])).status_code == 404
    assert upload(client, organization).status_code == 404
    assert AgreementCopy.objects.count() == 1


def test_the_copy_is_served_only_as_an_attachment_after_the_access_check(client, organization, owner):
    agreement = AgreementFactory(organization=organization)
    add_copy(agreement)
    client.force_login(owner)
    response = client.get(reverse("onboarding:agreement-copy", args=[agreement.pk, 1]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == PDF
    assert client.get(reverse("onboarding:agreement-copy", args=[agreement.pk, 2])).status_code == 404


# --- CoC staff countersign or return -------------------------------------------------------------------------------

def test_countersigning_executes_the_agreement_and_tells_the_agency(organization, owner, countersigner):
    agreement = AgreementFactory(organization=organization)
    services.agreement_countersign(actor=countersigner, agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.status == Status.EXECUTED
    assert agreement.countersigned_by == countersigner and agreement.countersigned_at
    assert agreement.expires_on is None  # LA's default policy: no term
    assert selectors.agreement_executed(organization)
    assert Notification.objects.filter(recipient=owner, subject__contains="executed").exists()


def test_a_double_countersign_changes_nothing_the_second_time(organization, countersigner):
    agreement = AgreementFactory(organization=organization)
    services.agreement_countersign(actor=countersigner, agreement=agreement)
    other = StaffFactory(groups=["CoC system admin"])
    with pytest.raises(ValidationError, match="already countersigned"):
        services.agreement_countersign(actor=other, agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.countersigned_by == countersigner
    assert [e.verb for e in events_for(agreement)].count("countersigned agreement") == 1


def test_staff_outside_the_countersigning_groups_cannot_countersign(organization):
    agreement = AgreementFactory(organization=organization)
    with pytest.raises(PermissionDenied):
        services.agreement_countersign(actor=StaffFactory(groups=["CES team"]), agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.status == Status.SUBMITTED


def test_admin_button_double_click_countersigns_once(client, organization, countersigner):
    agreement = AgreementFactory(organization=organization)
    client.force_login(countersigner)
    url = reverse("admin:onboarding_organizationagreement_countersign", args=[agreement.pk])
    first = client.post(url, follow=True)
    second = client.post(url, follow=True)
    assert "Agreement countersigned" in first.content.decode()
    assert "already countersigned" in second.content.decode()
    assert [e.verb for e in events_for(agreement)] == ["countersigned agreement"]


def test_admin_bulk_action_countersigns_submitted_and_reports_the_rest(client, organization, other_organization,
                                                                       countersigner):
    submitted = AgreementFactory(organization=organization)
    draft = AgreementFactory(organization=other_organization, status=Status.DRAFT)
    client.force_login(countersigner)
    response = client.post(reverse("admin:onboarding_organizationagreement_changelist"),
                           {"action": "countersign_selected", "_selected_action": [submitted.pk, draft.pk]},
                           follow=True)
    submitted.refresh_from_db(), draft.refresh_from_db()
    assert (submitted.status, draft.status) == (Status.EXECUTED, Status.DRAFT)
    assert "Only a submitted agreement can be countersigned" in response.content.decode()


def test_returning_needs_a_reason_which_the_agency_sees_and_a_corrected_copy_keeps_the_first(
        client, organization, owner, countersigner):
    client.force_login(owner)
    upload(client, organization)
    agreement = OrganizationAgreement.objects.get()
    staff = client.__class__()
    staff.force_login(countersigner)
    return_url = reverse("admin:onboarding_organizationagreement_return", args=[agreement.pk])
    response = staff.post(return_url, {"reason": "  "})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    agreement.refresh_from_db()
    assert agreement.status == Status.SUBMITTED
    staff.post(return_url, {"reason": "Page 3 is not signed."})
    agreement.refresh_from_db()
    assert agreement.status == Status.RETURNED
    assert Notification.objects.filter(recipient=owner, body__contains="Page 3 is not signed.").exists()
    page = client.get(reverse("onboarding:agreement-detail", args=[agreement.pk])).content.decode()
    assert "Page 3 is not signed." in page
    # Submitting again without a corrected copy is refused.
    with pytest.raises(ValidationError, match="corrected copy"):
        services.agreement_submit(actor=owner, agreement=agreement)
    upload(client, organization, content=PNG)
    agreement.refresh_from_db()
    assert agreement.status == Status.SUBMITTED
    assert list(agreement.copies.order_by("version").values_list("version", flat=True)) == [1, 2]
    assert all(copy.document.size for copy in agreement.copies.all())
    assert OrganizationAgreement.objects.count() == 1


def test_a_second_open_agreement_is_refused_by_the_database(organization):
    from django.db import IntegrityError, transaction

    AgreementFactory(organization=organization, status=Status.DRAFT)
    with pytest.raises(IntegrityError), transaction.atomic():
        AgreementFactory(organization=organization, status=Status.SUBMITTED)


def test_uploading_while_executed_starts_a_renewal(client, organization, owner, countersigner):
    agreement = AgreementFactory(organization=organization)
    services.agreement_countersign(actor=countersigner, agreement=agreement)
    client.force_login(owner)
    upload(client, organization)
    renewal = OrganizationAgreement.objects.exclude(pk=agreement.pk).get()
    assert renewal.renewal_of == agreement and renewal.status == Status.SUBMITTED
    assert selectors.participation_stage(organization) == "agreement_executed"
