"""The API against its own served schema: schemathesis reads /api/v1/openapi.json
from a live server with data in every collection and calls every operation
with generated parameters (filters, cursors, ids, page sizes) and a working
key. Nothing may answer with a server error, and every answer must be one the
schema describes, in the shape it describes."""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.api_keys import make_key
from tests.factories import MembershipFactory, StaffFactory
from tests.read_api import agency_ids, agency_with_work

# The live server binds a port and runs beside the test in threads: it runs
# with the browser tests, one after another in one process.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("browser")]

COLLECTIONS = ("agencies", "programs", "access-requests", "hmis-accounts", "referral-counts", "partnerships")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def agencies(live_server, policy_rows, settings):
    # Enough requests a minute for the whole run (the limit's own tests are in test_api.py).
    settings.API_KEY_REQUESTS_PER_MINUTE = 100_000
    return [agency_with_work() for _ in range(3)]


@pytest.fixture
def api_schema(agencies, live_server):
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


def label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def exercise(operations, *, live_server, key, checks, max_examples, **strategy) -> dict[str, Counter]:
    """Each operation its own Hypothesis run, in the calling test: the live
    server and its data are the test's fixtures (pytest-django's
    live_server), which a collection-time parametrization cannot reach.
    Returns the status codes each operation answered with."""
    headers = {"Authorization": f"Bearer {key}"}
    calls = {}
    for operation in operations:
        answers = calls.setdefault(label(operation), Counter())

        @given(case=operation.as_strategy(**strategy))
        @hypothesis_settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call_and_validate(base_url=live_server.url, headers=headers, checks=checks)
            answers[response.status_code] += 1  # noqa: B023 - run() is called before the loop moves on

        run()
    return calls


@pytest.fixture
def reader_key():
    # A system administrator of the CES team: every collection has rows for
    # this key, and it may send login activity too.
    return make_key(StaffFactory(groups=["CoC system admin", "CES team"]), "read", "hmis-logins:write")


def test_every_operation_answers_as_its_schema_says(api_schema, reader_key, live_server):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {label(op) for op in operations} >= {f"GET /api/v1/{path}/" for path in COLLECTIONS} | {
        "POST /api/v1/hmis-logins/"}
    calls = exercise(operations, live_server=live_server, key=reader_key, checks=CHECKS, max_examples=20)
    # Every operation was called, and each list answered with its rows at least once.
    assert set(calls) == {label(op) for op in operations}
    for path in COLLECTIONS:
        assert calls[f"GET /api/v1/{path}/"][200] > 0, calls


# The collection each read operation's rows belong to (tests/read_api.py's names).
ROWS = {"agencies": "agency", "programs": "program", "access-requests": "access-request",
        "hmis-accounts": "hmis-account", "referral-counts": "referral-count", "partnerships": "partnership"}


def test_an_agency_s_key_reads_nothing_of_another_through_any_operation(api_schema, agencies, live_server):
    mine, *others = agencies
    director = MembershipFactory(organization_id=mine["agency"], persona="executive_director").user
    key = make_key(director, "read")

    def only_my_agency(ctx, response, case):
        """A check of schemathesis's own: whatever the parameters, every
        row answered is of the director's agency."""
        if response.status_code != 200:
            return None
        collection = ROWS[case.operation.path.split("/")[3]]
        body = response.json()
        for row in body.get("results", [body]):
            assert mine["agency"] in agency_ids(collection, row), (case.operation.path, row)
        return None

    reads = [result.ok() for result in api_schema.get_all_operations() if result.ok().method.upper() == "GET"]
    lists = [op for op in reads if "{id}" not in op.path]
    calls = exercise(lists, live_server=live_server, key=key, checks=[*CHECKS, only_my_agency], max_examples=10)
    assert all(calls[label(op)][200] > 0 for op in lists), calls
    # Every detail route, asked for each object of the other agencies: 404.
    for op in (op for op in reads if "{id}" in op.path):
        collection = ROWS[op.path.split("/")[3]]
        for other in others:
            calls = exercise([op], live_server=live_server, key=key, checks=CHECKS, max_examples=1,
                             path_parameters={"id": other[collection]})
            assert calls[label(op)] == Counter({404: 1}), (op.path, calls)
