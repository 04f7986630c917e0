"""Every portal page of every persona who may open it costs at most
MAX_QUERIES database round trips, and no more at 1,000 rows of everything than
at 10: each GET of every `ViewCase` (tests/<app>/view_cases.py), as each agency
persona and CoC staff group the case allows, and the signed-in pages every
person has (password change, second factor), with `tests.scale.grow` around
them. A new view gets its case, and so is measured here too.

Growing 1,000 rows of every kind takes longer than measuring most pages, so
the rows are grown once for every case, not once per case: the first test (in
one test process, `xdist_group`) makes the agency and the people who ask
(`_people`: a member in each persona, one in each persona with HMIS access
there, CoC staff of each group), signs each in once, grows the agency to 10
rows and measures each case there, each case with its own objects in a
savepoint rolled back after it, then grows the same agency to 1,000 rows and
measures each case again in the same way. Each case's test then checks its own
two measures (and fails with what went wrong while measuring it)."""

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

from accounts.models import CoCGroup
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory
from tests.scale import at_10_and_1000, measured_block, rolled_back, warm_then_measured
from tests.test_list_pages import MAX_QUERIES
from tests.two_factor import PortalClient, signed_in_session, with_session
from tests.view_permissions import PERSONAS, all_cases

pytestmark = pytest.mark.django_db

# The GETs someone other than the owner opens (an owner's own calendar file is
# opened by no persona or group as such).
GET_CASES = [case for case in all_cases()
             if case.method == "get" and (case.personas or case.with_hmis_access or case.coc_groups)]
# The signed-in pages of one's own account, which every person has.
OWN_PAGES = ["password_change", "password_change_done", "two-factor", "two-factor-setup", "api-keys"]
COC_GROUPS = tuple(CoCGroup.values)


def _registration_file(organization):
    from training.models import Registration

    registration = Registration.objects.get(pk=all_cases_by_name()["training:registration-ics"].build(organization)["pk"])
    return registration.user, reverse("training:registration-ics", kwargs={"pk": registration.pk})


def _account_calendar(organization):
    user = MembershipFactory(organization=organization, persona="staff").user
    HMISAccountFactory(user=user, organization=organization, hmis_role="CES_Housing_Provider")
    return user, reverse("hmis-account-calendar")


def all_cases_by_name():
    return {case.url_name: case for case in all_cases()}


# The files only their owner opens (no persona or group as such): the
# registration's calendar entry and the HMIS account's reminders.
OWNER_FILES = {"training:registration-ics": _registration_file, "hmis-account-calendar": _account_calendar}
# Every case in one test process, which makes the people and grows the rows
# once for all of them: split among processes, each made and grew them again,
# more work in all than the one process waits for.
IN_ONE_PROCESS = pytest.mark.xdist_group("every-page")


def _people(organization):
    """{who: person} of everyone who asks, made once for all the cases: a
    member of the agency in each persona, another in each persona with
    granted, active HMIS access there in a role that works referrals, and CoC
    staff of each group."""
    people = {}
    for persona in PERSONAS:
        people[persona] = MembershipFactory(organization=organization, persona=persona).user
        user = MembershipFactory(organization=organization, persona=persona).user
        HMISAccountFactory(user=user, organization=organization, hmis_role="CES_Housing_Provider")
        people[_with_hmis_access(persona)] = user
    people.update({group: StaffFactory(groups=[group]) for group in COC_GROUPS})
    return people


def _with_hmis_access(persona):
    return f"{persona} with HMIS access"


def _readers(case):
    """Who (of `_people`) the case lets open the page."""
    readers = []
    for persona in PERSONAS:
        if case.allows(persona):
            readers.append(persona)
        elif case.allows(persona, hmis_access=True):
            readers.append(_with_hmis_access(persona))
    return readers + list(case.coc_groups)


def _cost(client, url):
    response, captured = warm_then_measured(client, url)
    assert response.status_code in (200, 302), f"{url}: {response.status_code}"
    if response.status_code == 302:
        assert not response["Location"].startswith(reverse("login")), url
    return len(captured), [query["sql"] for query in captured.captured_queries]


def _identify(organization):
    """Each of the agency's access requests with a CES role, as people are
    identified: their checklists read the roles' courses."""
    from hmis_access.models import AccessRequest
    from training.models import CESRole

    role = CESRole.objects.filter(active=True, required_courses__isnull=False).order_by("pk").first()
    through = AccessRequest.roles.through
    through.objects.bulk_create([
        through(accessrequest_id=pk, cesrole_id=role.pk)
        for pk in AccessRequest.objects.filter(organization=organization, roles=None).values_list("pk", flat=True)])


def _measure(readers, url):
    return {who: _cost(client, url) for who, client in readers}


def _check(page, at_10, at_1000):
    over = []
    for who, (small, _) in at_10.items():
        large, queries = at_1000[who]
        if large > small or max(small, large) > MAX_QUERIES:
            over.append(f"{page} as {who}: {small} queries at 10 rows, {large} at 1,000:\n  "
                        + "\n  ".join(queries))
    assert not over, "\n".join(over)


def _measure_one(organization, sessions, kind, what):
    """One case's costs at the rows there are now, with its own objects, made
    and rolled back here (or what went wrong measuring it). Each person asks
    in the session they were signed in to once for every case (`sessions`)."""
    cache.clear()  # as at the start of a test of its own
    try:
        with measured_block():
            if kind == "case":
                readers = {who: with_session(PortalClient(), sessions[who]) for who in _readers(what)}
                url = reverse(what.url_name, kwargs=what.build(organization))
            elif kind == "owner":
                owner, url = OWNER_FILES[what](organization)
                readers = {"owner": PortalClient()}
                readers["owner"].force_login(owner)
            else:
                readers = {who: with_session(PortalClient(), sessions[who]) for who in (*PERSONAS, *COC_GROUPS)}
                url = reverse(what)
            _identify(organization)
            costs = _measure(readers.items(), url)
            transaction.set_rollback(True)
        return costs
    except Exception as error:  # noqa: BLE001 - raised again by the case's own test
        return error


_measured: dict = {}


def _key(kind, what):
    return kind, what.id if kind == "case" else what


def _costs(request, kind, what):
    """(at 10 rows, at 1,000 rows) for one case: on the first test, every
    selected case is measured, rows grown once per size."""
    if not _measured:
        selected = []
        for item in request.session.items:
            if item.module is request.module and hasattr(item, "callspec"):
                params = item.callspec.params
                selected.append(("case", params["case"]) if "case" in params
                                else ("owner", params["owned"]) if "owned" in params else ("own", params["name"]))

        def measure():
            organization = OrganizationFactory()
            sessions = {who: signed_in_session(person) for who, person in _people(organization).items()}

            def every_case():
                # The grown requests identified once for all the cases at this
                # size; each case identifies those it builds.
                _identify(organization)
                return {_key(kind_, what_): _measure_one(organization, sessions, kind_, what_)
                        for kind_, what_ in selected}

            return at_10_and_1000(organization, every_case)

        _measured.update(rolled_back(measure))
    small, large = _measured[_key(kind, what)]
    for measured in (small, large):
        if isinstance(measured, BaseException):
            raise measured
    return small, large


@IN_ONE_PROCESS
@pytest.mark.parametrize("case", GET_CASES, ids=[case.id for case in GET_CASES])
def test_every_page_of_every_persona_costs_at_most_the_budget_at_10_and_1000_rows(request, case):
    at_10, at_1000 = _costs(request, "case", case)
    _check(case.id, at_10, at_1000)


@IN_ONE_PROCESS
@pytest.mark.parametrize("name", OWN_PAGES)
def test_every_own_page_costs_at_most_the_budget_at_10_and_1000_rows(request, name):
    at_10, at_1000 = _costs(request, "own", name)
    _check(name, at_10, at_1000)


@IN_ONE_PROCESS
@pytest.mark.parametrize("owned", list(OWNER_FILES))
def test_every_file_only_its_owner_opens_costs_at_most_the_budget_at_10_and_1000_rows(request, owned):
    at_10, at_1000 = _costs(request, "owner", owned)
    _check(owned, at_10, at_1000)


def test_every_page_no_persona_or_group_opens_is_measured_as_its_owners():
    owned = {case.url_name for case in all_cases()
             if case.method == "get" and not (case.personas or case.with_hmis_access or case.coc_groups)}
    assert owned == set(OWNER_FILES)
