"""The API against its own served schema: schemathesis reads /api/v1/openapi.json
from a live server with data in every collection and calls every operation
with generated parameters (filters, cursors, ids, page sizes) and a working
key. Nothing may answer with a server error, and every answer must be one the
schema describes, in the shape it describes."""

import datetime as dt
from collections import Counter

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from hmis_access.models import AccessRequest
from tests.api_keys import make_key
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory
from tests.partnerships.factories import propose
from tests.referrals.factories import ProgramFactory, make_referral

# The live server binds a port and runs beside the test in threads: it runs
# with the browser tests, one after another in one process.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("browser")]

COLLECTIONS = ("agencies", "programs", "access-requests", "hmis-accounts", "referral-counts", "partnerships")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _agency_with_work():
    organization = OrganizationFactory()
    program = ProgramFactory(organization=organization)
    make_referral(program)
    person = MembershipFactory(organization=organization, persona="staff").user
    AccessRequest.objects.create(organization=organization, user=person, status=AccessRequest.Status.READY,
                                 ready_at=timezone.now(), provisioning_due_at=timezone.now() + dt.timedelta(days=3))
    HMISAccountFactory(user=person, organization=organization, last_hmis_login_at=timezone.now())
    propose(agency=organization)


@pytest.fixture
def api_schema(live_server, policy_rows, settings):
    # Enough requests a minute for the whole run (the limit's own tests are in test_api.py).
    settings.API_KEY_REQUESTS_PER_MINUTE = 100_000
    for _ in range(3):
        _agency_with_work()
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.fixture
def reader_key():
    # A system administrator of the CES team: every collection has rows for
    # this key, and it may send login activity too.
    return make_key(StaffFactory(groups=["CoC system admin", "CES team"]), "read", "hmis-logins:write")


def test_every_operation_answers_as_its_schema_says(api_schema, reader_key, live_server):
    # Each operation its own Hypothesis run, in this one test: the live
    # server and its data are the test's fixtures (pytest-django's
    # live_server), which a collection-time parametrization cannot reach.
    headers = {"Authorization": f"Bearer {reader_key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        f"GET /api/v1/{path}/" for path in COLLECTIONS} | {"POST /api/v1/hmis-logins/"}
    calls = {}

    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=20, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS)
            calls.setdefault(label, Counter())[response.status_code] += 1

        run()
    # Every operation was called, and each list answered with its rows at least once.
    assert set(calls) == {f"{op.method.upper()} {op.path}" for op in operations}
    for path in COLLECTIONS:
        assert calls[f"GET /api/v1/{path}/"][200] > 0, calls
