"""Steps 1 and 2 follow the CoC's policy on the server: separation of duties
for the countersignature, only the countersigning groups told and shown the
button, and program setup only after the agreement is submitted."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import Membership
from hmis_portal.core.models import AuditEvent, Notification
from onboarding import services
from onboarding.models import OrganizationAgreement, Program
from onboarding.signals import participation_changed
from tests.factories import MembershipFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory, ProgramFactory, add_copy

pytestmark = pytest.mark.django_db


@pytest.fixture
def implementer():
    return StaffFactory(groups=["CoC implementation"])


def test_nobody_countersigns_an_agreement_they_submitted(organization, implementer):
    agreement = AgreementFactory(organization=organization, submitted_by=implementer)
    with pytest.raises(PermissionDenied, match="You submitted this agreement"):
        services.agreement_countersign(actor=implementer, agreement=agreement)
    with pytest.raises(PermissionDenied, match="You submitted this agreement"):
        services.agreement_return(actor=implementer, agreement=agreement, reason="Not mine to judge")
    agreement.refresh_from_db()
    assert agreement.status == OrganizationAgreement.Status.SUBMITTED and agreement.countersigned_by is None


def test_nobody_countersigns_for_an_agency_they_belong_to(organization, implementer):
    agreement = AgreementFactory(organization=organization)
    # Made directly: the membership services refuse CoC staff memberships.
    Membership.objects.create(user=implementer, organization=organization, persona="executive_director")
    with pytest.raises(PermissionDenied, match="You belong to this agency"):
        services.agreement_countersign(actor=implementer, agreement=agreement)
    assert not AuditEvent.objects.filter(verb="countersigned agreement").exists()


def test_the_admin_shows_why_instead_of_the_countersign_button(client, organization, implementer):
    agreement = AgreementFactory(organization=organization, submitted_by=implementer)
    add_copy(agreement)
    client.force_login(implementer)
    page = client.get(reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk])).content.decode()
    assert "You submitted this agreement" in page
    assert reverse("admin:onboarding_organizationagreement_countersign", args=[agreement.pk]) not in page
    response = client.post(reverse("admin:onboarding_organizationagreement_countersign", args=[agreement.pk]))
    assert response.status_code == 403
    other = StaffFactory(groups=["CoC implementation"])
    client.force_login(other)
    page = client.get(reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk])).content.decode()
    assert reverse("admin:onboarding_organizationagreement_countersign", args=[agreement.pk]) in page


def test_only_the_countersigning_groups_are_told_and_can_act(client, organization):
    implementer = StaffFactory(groups=["CoC implementation"], email="impl@example.org")
    trainer = StaffFactory(groups=["CoC training"], email="trainer@example.org")
    director = MembershipFactory(organization=organization, persona="executive_director").user
    agreement = AgreementFactory(organization=organization, status="draft", submitted_at=None)
    add_copy(agreement)
    services.agreement_submit(actor=director, agreement=agreement)
    told = set(Notification.objects.filter(subject__startswith="Organization Agreement to countersign")
               .values_list("to_email", flat=True))
    assert implementer.email in told and trainer.email not in told
    with pytest.raises(PermissionDenied):
        services.agreement_countersign(actor=trainer, agreement=agreement)
    client.force_login(trainer)
    assert client.get(reverse("admin:onboarding_organizationagreement_change", args=[agreement.pk])).status_code == 403
    assert client.get(reverse("onboarding:agreement-copy", args=[agreement.pk, 1])).status_code == 403


@pytest.mark.parametrize("group", ["CoC training", "CoC provisioning", "CES team"])
def test_other_groups_cannot_download_signed_agreements(client, organization, group):
    agreement = AgreementFactory(organization=organization)
    add_copy(agreement)
    client.force_login(StaffFactory(groups=[group]))
    assert client.get(reverse("onboarding:agreement-copy", args=[agreement.pk, 1])).status_code == 403


def test_program_setup_is_not_worked_while_the_agreement_is_not_submitted(organization, implementer):
    program = ProgramFactory(organization=organization)
    organization.agreements.update(status=OrganizationAgreement.Status.RETURNED)
    with pytest.raises(ValidationError, match="no submitted Organization Agreement"):
        services.program_setup_start(actor=implementer, program=program)
    with pytest.raises(ValidationError, match="no submitted Organization Agreement"):
        services.program_setup_complete(actor=implementer, program=program)
    program.refresh_from_db()
    assert program.setup_status == Program.SetupStatus.REQUESTED


def test_naming_ces_roles_tells_the_later_stages(organization):
    from onboarding.models import CESOrganizationRole

    manager = MembershipFactory(organization=organization, persona="program_manager").user
    heard = []

    def listener(sender, organization, **kwargs):
        heard.append(organization)

    participation_changed.connect(listener)
    try:
        services.ces_roles_set(actor=manager, organization=organization,
                               roles=CESOrganizationRole.objects.filter(active=True)[:1])
    finally:
        participation_changed.disconnect(listener)
    assert heard == [organization]


def test_ces_roles_are_read_only_in_the_admin(client, implementer):
    client.force_login(implementer)
    assert client.get(reverse("admin:onboarding_organizationcesrole_add")).status_code == 403
