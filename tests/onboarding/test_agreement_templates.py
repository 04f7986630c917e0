"""The blank Organization Agreement in versions: CoC staff upload it, Executive
Directors download the current one, copies record the version they were
signed on, and a version that must be signed again returns agreements
awaiting countersignature (audited)."""

import hashlib

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hmis_portal.core.audit import events_for
from onboarding import services
from onboarding.models import AgreementTemplate, OrganizationAgreement
from tests.factories import MembershipFactory, StaffFactory
from tests.onboarding.factories import PDF
from tests.onboarding.test_agreements import upload

pytestmark = pytest.mark.django_db


def blank(actor=None, **kwargs):
    return services.agreement_template_upload(
        actor=actor or StaffFactory(groups=["CoC implementation"]),
        document=SimpleUploadedFile("blank.pdf", PDF, content_type="application/pdf"), **kwargs)


def test_versions_are_numbered_hashed_and_recorded_on_the_signed_copy(client, organization, owner):
    first = blank()
    second = blank(note="New privacy section")
    assert (first.version, second.version, second.sha256) == (1, 2, hashlib.sha256(PDF).hexdigest())
    assert events_for(second).get(verb="uploaded blank agreement").data["sha256"] == second.sha256
    client.force_login(owner)
    page = client.get(reverse("onboarding:agreement-upload", args=[organization.slug])).content.decode()
    assert "Download the blank Organization Agreement (version 2)" in page
    assert client.get(reverse("onboarding:agreement-template")).status_code == 200
    upload(client, organization)
    agreement = OrganizationAgreement.objects.get(organization=organization)
    assert agreement.copies.get().template == second


def test_the_blank_is_for_executive_directors_and_the_implementation_team(client, organization):
    blank()
    url = reverse("onboarding:agreement-template")
    client.force_login(MembershipFactory(organization=organization, persona="staff").user)
    assert client.get(url).status_code == 403
    client.force_login(StaffFactory(groups=["CES team"]))
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
    with pytest.raises(PermissionDenied):
        blank(actor=StaffFactory(groups=["CoC training"]))


def test_a_version_to_sign_again_returns_waiting_agreements_and_keeps_executed_ones(client, organization, owner):
    blank()
    client.force_login(owner)
    upload(client, organization)
    waiting = OrganizationAgreement.objects.get(organization=organization)
    assert waiting.status == "submitted"
    other = MembershipFactory(persona="executive_director")
    executed = OrganizationAgreement.objects.create(organization=other.organization, status="executed")
    blank(note="No change that matters")  # copies of version 1 stay as they are
    waiting.refresh_from_db()
    assert waiting.status == "submitted"
    blank(resign_required=True)
    waiting.refresh_from_db()
    executed.refresh_from_db()
    assert waiting.status == "returned" and "version 3" in waiting.return_reason
    assert executed.status == "executed"
    assert events_for(waiting).filter(verb__icontains="return").exists()
    assert AgreementTemplate.objects.count() == 3
