"""Client data of referrals is for the provider agency's people who hold
granted, active HMIS access there with a role that works referrals, plus its
Program Manager and the CES team (SPEC §4); everyone else at the agency sees
counts only, and referrals go only to referable programs."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from hmis_portal.core.models import Notification
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def program():
    return ProgramFactory()


def _staff_without_access(organization):
    # Identified, checklist still open: no HMIS account yet.
    return MembershipFactory(organization=organization, persona="staff").user


def test_staff_whose_checklist_is_open_see_counts_but_no_client(client, program):
    person = _staff_without_access(program.organization)
    referral = make_referral(program, contact_phone="555-0142")
    client.force_login(person)
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 404
    assert client.get(reverse("referrals:list")).status_code == 403
    counts = client.get(reverse("referrals:counts"))
    assert counts.status_code == 200 and "555-0142" not in counts.content.decode()
    assert not Notification.objects.filter(to_email=person.email).exists()


def test_granted_active_access_at_the_agency_opens_the_client_and_the_emails(client, program):
    worker = provider_staff(program.organization)
    referral = make_referral(program, contact_phone="555-0142")
    client.force_login(worker)
    assert "555-0142" in client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert Notification.objects.filter(to_email=worker.email, subject__startswith="New CES referral").exists()


@pytest.mark.parametrize("account", [
    {"status": "inactive"},                         # lapsed after 30 days without login
    {"hmis_role": "CES_Retired_Role"},              # not one of the CoC's roles that work referrals
    {"elsewhere": True},                            # granted at another agency
])
def test_inactive_foreign_or_non_referral_access_does_not_open_clients(client, program, account):
    person = _staff_without_access(program.organization)
    organization = OrganizationFactory() if account.pop("elsewhere", False) else program.organization
    HMISAccountFactory(user=person, organization=organization, **{"hmis_role": "CES_Housing_Provider", **account})
    referral = make_referral(program)
    client.force_login(person)
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 404
    assert not Notification.objects.filter(to_email=person.email).exists()


def test_a_role_the_coc_marks_as_not_working_referrals_closes_them(client, program):
    from training.models import CESRole

    worker = provider_staff(program.organization)
    referral = make_referral(program)
    CESRole.objects.filter(hmis_role="CES_Housing_Provider").update(works_referrals=False)
    client.force_login(worker)
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 404


def test_the_program_manager_works_the_agency_s_referrals(client, program):
    manager = MembershipFactory(organization=program.organization, persona="program_manager").user
    referral = make_referral(program)
    client.force_login(manager)
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 200


def test_referrals_go_only_to_confirmed_programs_of_agencies_with_an_executed_agreement(client):
    unconfirmed = ProgramFactory(setup_status="setup_complete")
    with pytest.raises(ValidationError, match="not confirmed"):
        make_referral(unconfirmed)
    no_agreement = ProgramFactory(executed_agreement=False)
    with pytest.raises(ValidationError, match="no executed Organization Agreement"):
        make_referral(no_agreement)
    client.force_login(matcher())
    page = client.get(reverse("referrals:create")).content.decode()
    assert unconfirmed.name not in page and no_agreement.name not in page
    assert ProgramFactory(name="Referable Homes").name in client.get(reverse("referrals:create")).content.decode()
