"""The one permission test every portal view goes through (tests/view_permissions.py).

The people who ask (each persona, with and without HMIS access, a person of
another agency, CoC staff of each group) are made and signed in once, by the
module fixture `people`; each case's agency, its objects and its members are
built once for all the case's tests, by the module fixture `case`, each in a
block rolled back after its tests. Each test runs in a savepoint of its own
inside them, rolled back after the test, so that a POST by one person never
changes what the next one asks for: after a case's last test, every table must
hold what it held once the case was built, or the case fails. pytest runs the
tests of one case together (a parameter of a module fixture); under
pytest-xdist each group of cases runs in one process (`GROUPS`).
"""

from dataclasses import dataclass

import pytest
from django.db import connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import as_in_a_test
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory, UserFactory
from tests.scale import measured_block
from tests.two_factor import signed_in_session, with_session
from tests.view_permissions import EXEMPT, PERSONAS, ViewCase, all_cases

CASES = all_cases()
COC_GROUPS = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")
OUTSIDER = "another agency's member"


def portal_url_names():
    """Every named URL of the portal's own apps (not the admin)."""
    names = set()

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    continue
                ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, ns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}{pattern.name}")

    walk(get_resolver().url_patterns)
    return names


def test_every_portal_view_has_a_permission_case():
    covered = {case.url_name for case in CASES} | set(EXEMPT)
    missing = sorted(portal_url_names() - covered)
    assert not missing, f"Views with no case in tests/<app>/view_cases.py: {missing}"


def _tables():
    """{table: (its rows, a sum of their hashes)} of every table."""
    quote = connection.ops.quote_name
    tables = sorted(connection.introspection.table_names())
    sql = " UNION ALL ".join(f"SELECT %s, count(*), sum(hashtextextended(t::text, 0)) FROM {quote(table)} t"
                             for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}


@dataclass
class BuiltCase:
    """One case as its tests find it: its URL's kwargs, and the signed-in session of each person who asks."""
    case: ViewCase
    kwargs: dict
    sessions: dict

    def sign_in(self, client, who):
        with_session(client, self.sessions[who])

    def request(self, client):
        url = reverse(self.case.url_name, kwargs=self.kwargs)
        if self.case.method == "post":
            return url, client.post(url, self.case.data(self.kwargs))
        return url, client.get(url)


def _kept_for_tests(django_db_blocker, build, *, checked=""):
    """What `build()` returns, its rows kept for a fixture's tests in a block
    rolled back after them (tests.scale.measured_block), built as the same code
    builds inside a test. Each test runs in a savepoint of its own inside the
    block, rolled back after it; with `checked` (what was built, for the
    message), every table must hold after the tests what it held once built."""
    with django_db_blocker.unblock():
        block = measured_block()
        block.__enter__()
        try:
            with as_in_a_test():
                built = build()
            as_built = _tables() if checked else None
        except BaseException:
            transaction.set_rollback(True)
            block.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        try:
            if checked:
                left = _tables()
                changed = sorted(table for table in as_built.keys() | left.keys()
                                 if as_built.get(table) != left.get(table))
                assert not changed, f"{checked}: a test left changes behind in {changed}"
        finally:
            transaction.set_rollback(True)
            block.__exit__(None, None, None)


@pytest.fixture(scope="module")
def people(django_db_setup, django_db_blocker):
    """Everyone who asks, each signed in once for all the cases: a person for
    each persona (a member of each case's agency in it, `case`) and one for
    each persona with HMIS access there; a person of another agency, with
    every persona and granted, active HMIS access there; and CoC staff of each
    group. {who: (person, their session)}."""
    def build():
        found = {persona: UserFactory() for persona in PERSONAS}
        found.update({(persona, "hmis"): UserFactory() for persona in PERSONAS})
        elsewhere, outsider = OrganizationFactory(), UserFactory()
        for persona in PERSONAS:
            MembershipFactory(user=outsider, organization=elsewhere, persona=persona)
        # Granted, active HMIS access in a role that works referrals, at their own agency only.
        HMISAccountFactory(user=outsider, organization=elsewhere, hmis_role="CES_Housing_Provider")
        found[OUTSIDER] = outsider
        found.update({group: StaffFactory(groups=[group]) for group in COC_GROUPS})
        return {who: (person, signed_in_session(person)) for who, person in found.items()}

    yield from _kept_for_tests(django_db_blocker, build)


@pytest.fixture(scope="module")
def case(request, people, django_db_blocker):
    """The case (the test's parameter) built once for all its tests: a new
    agency, the case's objects there, and its members, each persona's person
    (and, where the case names HMIS access, each one's person with granted,
    active access there in a role that works referrals)."""
    view_case = request.param

    def build():
        organization = OrganizationFactory()
        kwargs = view_case.build(organization)
        for persona in PERSONAS:
            MembershipFactory(user=people[persona][0], organization=organization, persona=persona)
        if view_case.with_hmis_access:
            for persona in PERSONAS:
                person = people[(persona, "hmis")][0]
                MembershipFactory(user=person, organization=organization, persona=persona)
                HMISAccountFactory(user=person, organization=organization, hmis_role="CES_Housing_Provider")
        return BuiltCase(view_case, kwargs, {who: session for who, (_, session) in people.items()})

    yield from _kept_for_tests(django_db_blocker, build, checked=view_case.id)


# The cases in a few groups, each run in one process (pytest-xdist), which
# builds the people once for its cases and each case once for its tests; each
# group has its estimate in tests/scheduling.py.
GROUPS = 6


def _cases(cases):
    """The cases as the `case` fixture's parameters, each in its group."""
    return pytest.mark.parametrize("case", [
        pytest.param(case, id=case.id, marks=pytest.mark.xdist_group(f"view-permissions-{CASES.index(case) % GROUPS}"))
        for case in cases], indirect=True)


@pytest.mark.django_db
@_cases(CASES)
def test_anonymous_is_sent_to_sign_in(client, case):
    url, response = case.request(client)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login")), url


@pytest.mark.django_db
@_cases([c for c in CASES if c.agency_object])
def test_other_agency_gets_404(client, case):
    case.sign_in(client, OUTSIDER)
    _, response = case.request(client)
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@_cases(CASES)
def test_member_allowed_only_with_the_right_persona(client, case, persona):
    case.sign_in(client, persona)
    url, response = case.request(client)
    if case.case.allows(persona):
        assert response.status_code in (200, 302), f"{persona} should reach {url}: {response.status_code}"
        if response.status_code == 302:
            assert not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code in (403, 404), f"{persona} must not reach {url}"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@_cases([c for c in CASES if c.with_hmis_access])
def test_member_with_hmis_access_allowed_only_where_the_case_says(client, case, persona):
    case.sign_in(client, (persona, "hmis"))
    url, response = case.request(client)
    if case.case.allows(persona, hmis_access=True):
        assert response.status_code in (200, 302), f"{persona} with HMIS access should reach {url}: " \
                                                    f"{response.status_code}"
        if response.status_code == 302:
            assert not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code in (403, 404), f"{persona} with HMIS access must not reach {url}"


@pytest.mark.django_db
@pytest.mark.parametrize("group", COC_GROUPS)
@_cases(CASES)
def test_coc_staff_allowed_only_in_the_right_group(client, case, group):
    case.sign_in(client, group)
    url, response = case.request(client)
    if group in case.case.coc_groups:
        assert response.status_code in (200, 302), f"{group} should reach {url}: {response.status_code}"
    else:
        assert response.status_code in (403, 404), f"{group} must not reach {url}"
