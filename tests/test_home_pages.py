"""Every persona's home page summarizes: the same number of queries, and about
the same page, whether the agency and the CoC have 10 of everything or 1,000
(programs, referrals, HMIS accounts, access requests, agreements, uploads)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import CoCGroup
from hmis_access.models import HMISAccount
from onboarding.models import Program, ProgramType
from tests.factories import MembershipFactory, StaffFactory
from tests.scale import at_10_and_1000, grow, rolled_back, warm_then_measured
from tests.referrals.factories import matcher, provider_staff
from tests.training.factories import participating

pytestmark = pytest.mark.django_db

# What a home page may cost in database round trips, whoever the person and
# whatever the size: the session, the person's standing, the policy rows and
# the holidays come from the cache after the first request.
MOST_QUERIES = 12

PERSONAS = ["executive_director", "program_manager", "agency_administrator", "staff", "housing provider",
            "CES team", "CoC provisioning", "CoC implementation", "CoC training", "CoC system admin",
            "CoC staff in every group"]
# Those who grant HMIS access: their home lists the grants due first.
PROVISIONERS = {"CoC provisioning", "CoC system admin", "CoC staff in every group"}


def _person(persona, organization):
    if persona == "housing provider":
        return provider_staff(organization)
    if persona == "CES team":
        return matcher()
    if persona == "CoC staff in every group":
        # Every CoC group, as the CoC's system administrator holds them (a superuser, as in the demo).
        return StaffFactory(groups=CoCGroup.values, is_superuser=True)
    if persona.startswith("CoC "):
        return StaffFactory(groups=[persona])
    user = MembershipFactory(organization=organization, persona=persona).user
    if persona == "staff":
        # An end user with an account at risk and a request in progress.
        HMISAccount.objects.create(user=user, organization=organization, hmis_username=f"own{user.pk}",
                                   hmis_role="CES_Standard", provisioned_at=timezone.now() - dt.timedelta(days=200),
                                   last_hmis_login_at=timezone.now() - dt.timedelta(days=27),
                                   calendar_token=f"own{user.pk}")
    return user


def _home(client, queries=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    if queries is not None:
        queries[:] = [query["sql"] for query in captured.captured_queries]
    return response.content.decode(), len(captured)


def _warm_home(client):
    """(status, page, queries, their SQL) of a warm request for the home page:
    the first request after a change (grow adds holidays) reads it again, once;
    the measure is the next (`warm_then_measured`, the clock still for the
    pair). An error is kept as its text, for the test of that persona to report."""
    try:
        response, captured = warm_then_measured(client, reverse("home"))
    except Exception as error:  # noqa: BLE001 - reported by the test of this persona, not by every test
        return repr(error), "", 0, []
    return (response.status_code, response.content.decode(), len(captured),
            [query["sql"] for query in captured.captured_queries])


@pytest.fixture(scope="module")
def home_measures(django_db_setup, django_db_blocker):
    """Each persona's home page at 10 rows and at 1,000, every persona in the
    same agency and the same rows, grown once for all of them
    (`tests.scale.rolled_back`). {persona: [at 10, at 1,000]}."""
    from tests.factories import OrganizationFactory
    from tests.two_factor import PortalClient

    def measure():
        organization = OrganizationFactory()
        participating(organization, "permanent-housing")
        clients = {}
        for persona in PERSONAS:
            clients[persona] = PortalClient()
            clients[persona].force_login(_person(persona, organization))
        return at_10_and_1000(organization, lambda: {persona: _warm_home(client)
                                                     for persona, client in clients.items()})

    with django_db_blocker.unblock():
        return rolled_back(measure)


# The personas' tests in one process, which grows the rows once (a group of its own).
@pytest.mark.xdist_group("home-pages")
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_home_page_costs_the_same_at_10_and_1000_rows(home_measures, persona):
    (status_10, small, at_10, queries_10), (status_1000, large, at_1000, queries) = home_measures[persona]
    assert status_10 == 200 and status_1000 == 200, f"{persona}: {status_10}, {status_1000}"
    assert at_10 <= MOST_QUERIES, f"{persona}: {at_10} queries at 10 rows:\n" + "\n".join(queries_10)
    assert at_1000 <= at_10, f"{persona}: {at_10} queries at 10 rows, {at_1000} at 1,000:\n" + "\n".join(queries)
    if persona in PROVISIONERS:
        # The grants due first, each a person to act on, up to a fixed number.
        from hmis_access.work import QUEUE_TASK_LIMIT

        assert large.count("Grant HMIS access to") == QUEUE_TASK_LIMIT
    else:
        # A summary, not a list: the page grows by a few lines at most.
        assert len(large) - len(small) < 6_000, f"{persona}: {len(small)} → {len(large)} characters"
        assert "Grown program 5" not in large and "Grown Person 5" not in large


@pytest.mark.xdist_group("home-pages")
def test_the_program_manager_reads_counts_for_many_programs(home_measures):
    status, page, _queries, _sql = home_measures["program_manager"][1]  # at 1,000 rows
    assert status == 200, status
    assert "Confirm the setup of 250 programs" in page
    assert "Answer the implementation team about 250 programs" in page
    assert "programs have overdue referrals" in page
    assert "HMIS accounts at " in page


def test_one_program_waiting_is_named(client, organization):
    participating(organization, "permanent-housing")
    client.force_login(_person("program_manager", organization))
    program = Program.objects.create(organization=organization, name="Harbor Shelter",
                                     program_type=ProgramType.objects.get(code="emergency-shelter"),
                                     setup_status=Program.SetupStatus.SETUP_COMPLETE)
    page, _ = _home(client)
    assert "Confirm the setup of Harbor Shelter" in page
    assert reverse("onboarding:program-detail", args=[program.pk]) in page


def test_the_home_page_counts_hmis_accounts_as_the_agency_page_lists_them(organization):
    """The database's counts are the agency page's rows, counted."""
    from hmis_accounts import selectors
    from hmis_portal.core.calendar import local_date
    from hmis_portal.core.prepared import answer

    grow(organization, 0, 120)
    today = local_date()
    rows = selectors.agency_accounts(organization, today=today)
    counts = answer(selectors.agency_account_counts([organization], today=today))[organization.pk]
    assert counts.at_risk == sum(1 for row in rows if row.at_risk) > 0
    assert counts.inactive == sum(1 for row in rows if row.account.status == HMISAccount.Status.INACTIVE
                                  and row.open_request is None) > 0


@pytest.mark.parametrize("hmis_access", [True, False])
def test_the_program_managers_home_asks_its_agencys_questions_together(client, organization, hmis_access):
    """The to-dos' questions that do not wait on another's answer go to the
    database in one statement: where the person holds HMIS access with every
    count of the page's to-dos; then, only when some wait, the programs
    waiting longest by name and (with HMIS access) the intakes to enter."""
    participating(organization, "permanent-housing")
    user = _person("program_manager", organization)
    grow(organization, 0, 10)
    if hmis_access:
        HMISAccount.objects.create(user=user, organization=organization, hmis_username=f"own{user.pk}",
                                   hmis_role="CES_Standard", provisioned_at=timezone.now() - dt.timedelta(days=20),
                                   last_hmis_login_at=timezone.now() - dt.timedelta(days=2),
                                   calendar_token=f"own{user.pk}")
    client.force_login(user)
    _home(client)  # warm the caches
    queries = []
    page, count = _home(client, queries)
    assert "programs have overdue referrals" in page and "HMIS accounts at " in page
    if connection.vendor == "postgresql":
        # The person, one statement of questions, the programs by name, the intakes.
        assert count <= (4 if hmis_access else 3), "\n".join(queries)


def test_an_executive_directors_proposals_are_asked_with_the_other_to_dos(client):
    """The proposals to an agency the person directs go to the database with
    the other to-dos' questions: the person, then one statement."""
    from tests.partnerships.factories import director, propose

    proposal = propose()
    proposal.refresh_from_db()
    client.force_login(director(proposal.partner))
    _home(client)  # warm the caches
    queries = []
    page, count = _home(client, queries)
    assert f"Data partnership proposed by {proposal.agency}: accept or decline" in page
    assert reverse("partnerships:detail", args=[proposal.pk]) in page
    if connection.vendor == "postgresql":
        assert count <= 2, "\n".join(queries)
    client.force_login(proposal.proposed_by)
    assert "Data partnership proposed by" not in _home(client)[0]  # not to the one who proposed it


def test_a_persons_checklist_is_read_only_when_they_have_a_request_open(client, organization):
    """Whether the person has an open access request of their own is asked
    with the other to-dos' questions; their checklist is read only then."""
    from hmis_access.models import AccessRequest

    user = _person("staff", organization)
    client.force_login(user)
    _home(client)  # warm the caches
    queries = []
    _home(client, queries)
    checklist = [sql for sql in queries if sql.lstrip().startswith(f'SELECT "{AccessRequest._meta.db_table}"')]
    assert checklist == []
    AccessRequest.objects.create(organization=organization, user=user, status=AccessRequest.Status.OPEN)
    page, _ = _home(client, queries)
    assert "HMIS access checklist" in page or "waits on others" in page
    assert [sql for sql in queries if sql.lstrip().startswith(f'SELECT "{AccessRequest._meta.db_table}"')]
