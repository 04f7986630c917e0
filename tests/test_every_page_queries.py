"""Every portal page of every persona who may open it costs at most
MAX_QUERIES database round trips, and no more at 1,000 rows of everything than
at 10: each GET of every `ViewCase` (tests/<app>/view_cases.py), as each agency
persona and CoC staff group the case allows, and the signed-in pages every
person has (password change, second factor), with `tests.scale.grow` around
them. A new view gets its case, and so is measured here too."""

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.scale import grow
from tests.test_list_pages import MAX_QUERIES
from tests.two_factor import PortalClient
from tests.view_permissions import PERSONAS, all_cases

pytestmark = pytest.mark.django_db

# The GETs someone other than the owner opens (an owner's own calendar file is
# opened by no persona or group as such).
GET_CASES = [case for case in all_cases()
             if case.method == "get" and (case.personas or case.with_hmis_access or case.coc_groups)]
# The signed-in pages of one's own account, which every person has.
OWN_PAGES = ["password_change", "password_change_done", "two-factor", "two-factor-setup", "api-keys"]
COC_GROUPS = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")


def _readers(case, organization):
    """(who, user) of each person the case lets open the page."""
    readers = []
    for persona in PERSONAS:
        if case.allows(persona):
            readers.append((persona, MembershipFactory(organization=organization, persona=persona).user))
        elif case.allows(persona, hmis_access=True):
            user = MembershipFactory(organization=organization, persona=persona).user
            HMISAccountFactory(user=user, organization=organization, hmis_role="CES_Housing_Provider")
            readers.append((f"{persona} with HMIS access", user))
    readers += [(group, StaffFactory(groups=[group])) for group in case.coc_groups]
    return readers


def _cost(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code in (200, 302), f"{url}: {response.status_code}"
    if response.status_code == 302:
        assert not response["Location"].startswith(reverse("login")), url
    return len(captured), [query["sql"] for query in captured.captured_queries]


def _grow(organization, start, stop):
    """`grow`, and each of the agency's access requests with a CES role, as
    people are identified: their checklists read the roles' courses."""
    from hmis_access.models import AccessRequest
    from training.models import CESRole

    grow(organization, start, stop)
    role = CESRole.objects.filter(active=True, required_courses__isnull=False).order_by("pk").first()
    through = AccessRequest.roles.through
    through.objects.bulk_create([
        through(accessrequest_id=pk, cesrole_id=role.pk)
        for pk in AccessRequest.objects.filter(organization=organization, roles=None).values_list("pk", flat=True)])


def _measure(readers, url):
    costs = {}
    for who, client in readers:
        # The clock stands still for the pair: a session records its activity
        # (a policy read and a session write) once a minute, on whichever
        # request crosses the minute; the measure is a page's own cost.
        with time_machine.travel(timezone.now(), tick=False):
            client.get(url)  # warm: the first request after a change reads it again, once
            costs[who] = _cost(client, url)
    return costs


def _check(page, at_10, at_1000):
    over = []
    for who, (small, _) in at_10.items():
        large, queries = at_1000[who]
        if large > small or max(small, large) > MAX_QUERIES:
            over.append(f"{page} as {who}: {small} queries at 10 rows, {large} at 1,000:\n  "
                        + "\n  ".join(queries))
    assert not over, "\n".join(over)


def _clients(readers):
    clients = []
    for who, user in readers:
        client = PortalClient()
        client.force_login(user)
        clients.append((who, client))
    return clients


@pytest.mark.parametrize("case", GET_CASES, ids=lambda c: c.id)
def test_every_page_of_every_persona_costs_at_most_the_budget_at_10_and_1000_rows(organization, case):
    readers = _readers(case, organization)
    url = reverse(case.url_name, kwargs=case.build(organization))
    clients = _clients(readers)
    _grow(organization, 0, 10)
    at_10 = _measure(clients, url)
    _grow(organization, 10, 1000)
    at_1000 = _measure(clients, url)
    _check(case.id, at_10, at_1000)


@pytest.mark.parametrize("name", OWN_PAGES)
def test_every_own_page_costs_at_most_the_budget_at_10_and_1000_rows(organization, name):
    readers = [(persona, MembershipFactory(organization=organization, persona=persona).user)
               for persona in PERSONAS] + [(group, StaffFactory(groups=[group])) for group in COC_GROUPS]
    clients = _clients(readers)
    url = reverse(name)
    _grow(organization, 0, 10)
    at_10 = _measure(clients, url)
    _grow(organization, 10, 1000)
    at_1000 = _measure(clients, url)
    _check(name, at_10, at_1000)
