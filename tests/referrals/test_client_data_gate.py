"""Client data of referrals is for the provider agency's people who hold
granted, active HMIS access there with a role that works referrals, and the
CES team (SPEC §4, "Who sees client data"); everyone else at the agency —
its Program Manager and Executive Director too, without such access — sees
counts, statuses and deadlines only, and referrals go only to referable
programs."""

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


PERSONAS = ["executive_director", "program_manager", "agency_administrator", "staff"]
CLIENT = {"client_id": "C-GATE-77", "contact_phone": "555-0177", "contact_email": "gate77@example.org"}


def _pages(client, referral):
    """What the person reads of the agency's referrals: the list, the
    referral, the counts report, the CSV export and HUD's Event.csv."""
    return {
        "list": client.get(reverse("referrals:list")),
        "detail": client.get(reverse("referrals:detail", args=[referral.pk])),
        "counts": client.get(reverse("referrals:counts")),
        "export": client.get(reverse("referrals:export")),
        "hud": client.get(reverse("referrals:hud-events")),
    }


def _text(response):
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode(errors="replace")


def _shows_client(response) -> bool:
    text = _text(response)
    return any(value in text for value in CLIENT.values())


@pytest.mark.parametrize("persona", PERSONAS)
def test_a_persona_alone_sees_counts_statuses_and_deadlines_never_the_client(client, program, persona):
    person = MembershipFactory(organization=program.organization, persona=persona).user
    referral = make_referral(program, **CLIENT)
    client.force_login(person)
    pages = _pages(client, referral)
    assert pages["list"].status_code == 403 and pages["detail"].status_code == 404
    assert pages["export"].status_code == 403 and pages["hud"].status_code == 403
    counts = pages["counts"]
    assert counts.status_code == 200 and referral.status.name in _text(counts)
    assert "Due soon" in _text(counts) and "Overdue" in _text(counts)
    assert not any(_shows_client(page) for page in pages.values())
    assert reverse("referrals:list") + "?program=" not in _text(counts)  # the counts do not open the list
    assert not Notification.objects.filter(to_email=person.email).exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_granted_active_hmis_access_with_a_referral_role_opens_the_client(client, program, persona):
    person = MembershipFactory(organization=program.organization, persona=persona).user
    HMISAccountFactory(user=person, organization=program.organization, hmis_role="CES_Housing_Provider")
    referral = make_referral(program, **CLIENT)
    client.force_login(person)
    pages = _pages(client, referral)
    assert CLIENT["client_id"] in _text(pages["list"])
    detail = _text(pages["detail"])
    assert CLIENT["contact_phone"] in detail and CLIENT["contact_email"] in detail
    # The exports stay the CES team's reporting.
    assert pages["export"].status_code == 403 and pages["hud"].status_code == 403
    assert Notification.objects.filter(to_email=person.email, subject__startswith="New CES referral").exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_an_inactive_hmis_account_shows_no_client_data(client, program, persona):
    person = MembershipFactory(organization=program.organization, persona=persona).user
    HMISAccountFactory(user=person, organization=program.organization, hmis_role="CES_Housing_Provider",
                       status="inactive")
    referral = make_referral(program, **CLIENT)
    client.force_login(person)
    pages = _pages(client, referral)
    assert pages["list"].status_code == 403 and pages["detail"].status_code == 404
    assert not any(_shows_client(page) for page in pages.values())


def test_the_program_manager_without_access_may_not_move_a_referral(client, program):
    from referrals.models import Referral

    manager = MembershipFactory(organization=program.organization, persona="program_manager").user
    referral = make_referral(program)
    client.force_login(manager)
    response = client.post(reverse("referrals:change-status", args=[referral.pk]), {"version": 1})
    assert response.status_code == 404
    assert Referral.objects.get(pk=referral.pk).version == referral.version


def test_the_program_managers_home_page_counts_overdue_referrals_without_the_list(client, program):
    import datetime as dt

    from django.utils import timezone

    manager = MembershipFactory(organization=program.organization, persona="program_manager").user
    make_referral(program, at=timezone.now() - dt.timedelta(days=20), **CLIENT)
    client.force_login(manager)
    page = client.get(reverse("home")).content.decode()
    assert "1 program has overdue referrals (1 in all)" in page
    assert reverse("referrals:counts") in page and reverse("referrals:list") + "?" not in page
    assert not _shows_client(client.get(reverse("home")))


def test_the_ces_team_sees_the_client_and_the_exports(client, program):
    referral = make_referral(program, **CLIENT)
    client.force_login(matcher())
    pages = _pages(client, referral)
    assert all(page.status_code == 200 for page in pages.values())
    assert CLIENT["client_id"] in _text(pages["list"]) and CLIENT["client_id"] in _text(pages["export"])
    assert CLIENT["contact_phone"] in _text(pages["detail"])


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
