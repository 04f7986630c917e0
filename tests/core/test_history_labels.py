"""History reads as people speak: state labels, not codes; an HMIS account's
page tells its whole story, requests included."""

import pytest
from django.urls import reverse

from hmis_accounts import services as activity
from hmis_portal.core.audit import record_event
from tests.factories import HMISAccountFactory, MembershipFactory
from tests.onboarding.factories import ProgramFactory

pytestmark = pytest.mark.django_db


def test_history_rows_show_labels_not_codes(client, organization):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    program = ProgramFactory(organization=organization)
    record_event(actor=None, subject=program, verb="completed program setup", from_state="in_progress",
                 to_state="setup_complete")
    client.force_login(manager)
    page = client.get(reverse("onboarding:program-detail", args=[program.pk])).content.decode()
    assert "setup_complete" not in page and "in_progress" not in page
    assert "Setup complete" in page


def test_the_hmis_account_page_shows_inactivity_and_the_reactivation_request(client, organization):
    account = HMISAccountFactory(organization=organization, status="inactive")
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    record_event(actor=None, subject=account, verb="became inactive", from_state="active", to_state="inactive")
    activity.reactivation_request_create(actor=account.user, account=account, note="Back from leave")
    client.force_login(account.user)
    page = client.get(reverse("hmis-account-status")).content.decode()
    assert "Nothing has happened yet" not in page
    assert "Became inactive" in page
    # The request's own event (only recorded on the request) is on the account's page.
    assert "Requested reactivation" in page


def test_the_agency_page_shows_its_agreements_and_programs_history(client, organization):
    from onboarding import services
    from tests.onboarding.factories import AgreementFactory, add_copy
    from tests.factories import StaffFactory

    director = MembershipFactory(organization=organization, persona="executive_director").user
    agreement = AgreementFactory(organization=organization)
    add_copy(agreement)
    services.agreement_return(actor=StaffFactory(groups=["CoC implementation"]), agreement=agreement,
                              reason="Page 2 is missing")
    program = ProgramFactory(organization=organization, name="Oak Shelter")
    record_event(actor=None, subject=program, verb="started program setup", from_state="requested",
                 to_state="in_progress")
    client.force_login(director)
    page = client.get(reverse("onboarding:participation", args=[organization.slug])).content.decode()
    assert "Returned agreement" in page and "Page 2 is missing" in page
    assert "Started program setup" in page and "Requested → Setup in progress" in page


def test_the_agency_page_shows_its_people_s_access_to_its_leads_only(client, organization):
    from tests.training.factories import identify, participating

    participating(organization, "access-center")
    identify(organization, programs=list(organization.programs.all()))
    director = MembershipFactory(organization=organization, persona="executive_director").user
    colleague = MembershipFactory(organization=organization, persona="staff").user
    url = reverse("onboarding:participation", args=[organization.slug])
    client.force_login(director)
    assert "Identified user" in client.get(url).content.decode()
    client.force_login(colleague)
    assert "Identified user" not in client.get(url).content.decode()


def test_the_agency_page_counts_step_three(client, organization):
    from tests.training.factories import finish_everything, identify, participating
    from tests.factories import StaffFactory

    participating(organization, "access-center")
    programs = list(organization.programs.all())
    identify(organization, programs=programs)
    finish_everything(identify(organization, programs=programs), StaffFactory(groups=["CoC training"]))
    director = MembershipFactory(organization=organization, persona="executive_director").user
    client.force_login(director)
    page = client.get(reverse("onboarding:participation", args=[organization.slug])).content.decode()
    assert "1 user working through the checklist" in page
    assert "1 ready for provisioning (due by end of" in page
    assert "provisioning staff, to grant access" in page
