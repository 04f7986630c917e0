"""The CoC's admin queues count waiting business days without a query per row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from onboarding.models import Program
from tests.factories import OrganizationFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory, ProgramFactory
from tests.test_list_pages import MAX_QUERIES

pytestmark = pytest.mark.django_db


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    assert "waiting (business days)" in response.content.decode().lower()
    return len(captured)


@pytest.mark.parametrize("changelist, make", [
    ("admin:onboarding_organizationagreement_changelist", lambda n: [AgreementFactory() for _ in range(n)]),
    ("admin:onboarding_program_changelist",
     lambda n: [ProgramFactory(organization=OrganizationFactory(), setup_status=Program.COC_STATUSES[0])
                for _ in range(n)]),
])
def test_the_calendar_is_loaded_once_per_page_whatever_the_rows(client, changelist, make):
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    url = reverse(changelist)
    make(10)
    client.get(url)  # the first page of a session does its own one-off work
    at_10 = _queries(client, url)
    make(90)
    at_100 = _queries(client, url + "?all=")
    assert at_100 == at_10
    assert at_10 <= MAX_QUERIES, f"{changelist}: {at_10} queries"
    holiday_queries = _holiday_queries(client, url)
    # Once at most: a request reads the holidays once, and after the first
    # they come from the cache (hmis_portal/core/cached.py).
    assert holiday_queries <= 1


def _holiday_queries(client, url) -> int:
    from hmis_portal.core.models import Holiday

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return sum(Holiday._meta.db_table in q["sql"] for q in captured.captured_queries)
