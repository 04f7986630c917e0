"""The read API (/api/v1/): each collection as each persona's key, never
more than its owner sees in the browser (another agency's rows are absent,
its objects by id a 404), cursor pagination, a constant number of queries
per page whatever the number of rows, the scope `read` (403 without it) and
a key (401 without one)."""

import pytest
from django.urls import reverse

from tests.api_keys import bearer, make_key
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory
from tests.read_api import agency_ids, agency_with_work

pytestmark = pytest.mark.django_db

COLLECTIONS = ("agency", "program", "access-request", "hmis-account", "referral-count", "partnership")
WITH_DETAIL = ("agency", "program", "access-request", "hmis-account", "partnership")


def read_all(client, collection, key, **params):
    """Every row of a collection, page after page by its cursor."""
    rows, url = [], reverse(f"api:{collection}-list")
    response = client.get(url, params, **bearer(key))
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        rows.extend(body["results"])
        if not body["next"]:
            return rows
        response = client.get(body["next"], **bearer(key))


@pytest.fixture
def two_agencies():
    return agency_with_work("Alpha Housing"), agency_with_work("Beta Shelter")


@pytest.mark.parametrize("persona", ["executive_director", "program_manager", "agency_administrator"])
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_an_agency_lead_s_key_reads_its_agency_and_nothing_of_another(client, two_agencies, collection, persona):
    mine, theirs = two_agencies
    lead = MembershipFactory(organization_id=mine["agency"], persona=persona).user
    key = make_key(lead, "read")
    rows = read_all(client, collection, key)
    assert rows, f"the {persona} reads their agency's {collection}s"
    for row in rows:
        assert mine["agency"] in agency_ids(collection, row)
        assert theirs["agency"] not in agency_ids(collection, row)
    if collection in WITH_DETAIL:
        ours = client.get(reverse(f"api:{collection}-detail", args=[mine[collection]]), **bearer(key))
        assert ours.status_code == 200
        other = client.get(reverse(f"api:{collection}-detail", args=[theirs[collection]]), **bearer(key))
        assert other.status_code == 404


def test_an_agency_s_staff_member_reads_their_own_access_and_account_only(client, two_agencies):
    mine, _ = two_agencies
    colleague_account = HMISAccountFactory(organization_id=mine["agency"])
    person = MembershipFactory(organization_id=mine["agency"], persona="staff").user
    own = HMISAccountFactory(user=person, organization_id=mine["agency"])
    key = make_key(person, "read")
    assert [row["id"] for row in read_all(client, "hmis-account", key)] == [own.pk]
    assert read_all(client, "access-request", key) == []
    response = client.get(reverse("api:hmis-account-detail", args=[colleague_account.pk]), **bearer(key))
    assert response.status_code == 404


@pytest.mark.parametrize("group, collections", [
    ("CoC implementation", {"agency", "program", "partnership"}),
    ("CoC provisioning", {"agency", "program", "access-request", "hmis-account"}),
    ("CES team", {"agency", "program", "referral-count"}),
])
def test_coc_staff_read_every_agency_of_their_work(client, two_agencies, group, collections):
    key = make_key(StaffFactory(groups=[group]), "read")
    for collection in collections:
        seen = set().union(*(agency_ids(collection, row) for row in read_all(client, collection, key)))
        assert {two_agencies[0]["agency"], two_agencies[1]["agency"]} <= seen, collection


def test_coc_staff_outside_a_collection_s_work_read_none_of_it(client, two_agencies):
    key = make_key(StaffFactory(groups=["CoC implementation"]), "read")
    assert read_all(client, "hmis-account", key) == []
    assert read_all(client, "access-request", key) == []
    assert client.get(reverse("api:referral-count-list"), **bearer(key)).status_code == 403


def test_referral_counts_carry_no_client_identifier(client, two_agencies):
    mine, _ = two_agencies
    director = MembershipFactory(organization_id=mine["agency"], persona="executive_director").user
    key = make_key(director, "read")
    response = client.get(reverse("api:referral-count-list"), **bearer(key))
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["program"] == mine["program"] and row["total"] == 1
    assert f"CLIENT{mine['agency']}" not in response.content.decode()
    # The client search of the pages is not a filter of the counts.
    searched = client.get(reverse("api:referral-count-list"), {"client": f"CLIENT{mine['agency']}"},
                          **bearer(key))
    assert searched.json()["results"] == response.json()["results"]


def test_agencies_carry_their_participation_stage_and_the_status_list_s_filters(client, two_agencies):
    key = make_key(StaffFactory(groups=["CoC implementation"]), "read")
    rows = read_all(client, "agency", key, q="Alpha")
    assert [row["name"] for row in rows] == ["Alpha Housing"]
    assert rows[0]["participation_stage"] == "participating"
    assert rows[0]["participation_stage_label"] == "Participating"
    bad = client.get(reverse("api:agency-list"), {"role": "no-such-role"}, **bearer(key))
    assert bad.status_code == 400


def test_agencies_filter_by_participation_stage_as_the_status_list_does(client, two_agencies):
    """The stage filter of the status list, in the API: the stage is derived
    row by row, so the agencies at a stage are found before a page is cut,
    in queries that do not grow with the agencies; an unknown stage is a 400."""
    from django.db import connection

    from tests.onboarding.factories import AgreementFactory

    def queries_and_rows(stage):
        # Counted at the cursor: each request empties Django's own query log.
        sql = []

        def count(execute, *args):
            sql.append(args[0])
            return execute(*args)

        with connection.execute_wrapper(count):
            rows = read_all(client, "agency", key, stage=stage)
        return len(sql), rows

    AgreementFactory(organization=OrganizationFactory(name="Gamma Drafting"), status="draft")
    key = make_key(StaffFactory(groups=["CoC implementation"]), "read")
    few, rows = queries_and_rows("agreement_draft")
    assert [row["name"] for row in rows] == ["Gamma Drafting"]
    assert rows[0]["participation_stage"] == "agreement_draft"
    _, rows = queries_and_rows("participating")
    assert {row["name"] for row in rows} == {"Alpha Housing", "Beta Shelter"}
    for n in range(6):
        AgreementFactory(organization=OrganizationFactory(name=f"Drafting {n}"), status="draft")
    many, rows = queries_and_rows("agreement_draft")
    assert len(rows) == 7 and few > 0 and many <= few
    assert client.get(reverse("api:agency-list"), {"stage": "no-such-stage"}, **bearer(key)).status_code == 400


def test_a_collection_pages_by_cursor_without_repeating_or_losing_a_row(client):
    for _ in range(5):
        OrganizationFactory()
    key = make_key(StaffFactory(groups=["CoC implementation"]), "read")
    first = client.get(reverse("api:agency-list"), {"page_size": 2}, **bearer(key)).json()
    assert len(first["results"]) == 2 and first["next"] and "cursor=" in first["next"]
    rows = read_all(client, "agency", key, page_size=2)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == 5
    assert client.get(reverse("api:agency-list"), {"cursor": "not-a-cursor"}, **bearer(key)).status_code == 404


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_a_page_takes_the_same_number_of_queries_for_one_row_or_many(client, collection,
                                                                     django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    agency_with_work()
    reader = StaffFactory(groups=["CoC system admin", "CES team"])
    key = make_key(reader, "read")
    url = reverse(f"api:{collection}-list")
    with CaptureQueriesContext(connection) as one:
        response = client.get(url, **bearer(key))
    assert response.status_code == 200 and len(response.json()["results"]) >= 1
    for _ in range(6):
        agency_with_work()
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(url, **bearer(key))
    assert response.status_code == 200 and len(response.json()["results"]) >= 7


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_no_key_is_401_and_a_key_without_read_is_403(client, collection):
    url = reverse(f"api:{collection}-list")
    assert client.get(url).status_code == 401
    key = make_key(StaffFactory(groups=["CoC system admin", "CES team"]), "hmis-logins:write")
    response = client.get(url, **bearer(key))
    assert response.status_code == 403
    assert "read" in response.json()["detail"]


def test_the_served_schema_describes_every_collection(client):
    schema = client.get(reverse("api:openapi")).json()
    for path in ("agencies", "programs", "access-requests", "hmis-accounts", "referral-counts", "partnerships"):
        operation = schema["paths"][f"/api/v1/{path}/"]["get"]
        assert {"200", "401", "403"} <= set(operation["responses"])
        assert {"cursor", "page_size"} <= {parameter["name"] for parameter in operation["parameters"]}


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_a_collection_s_answer_is_never_cached(client, collection):
    key = make_key(StaffFactory(groups=["CoC system admin", "CES team"]), "read")
    response = client.get(reverse(f"api:{collection}-list"), **bearer(key))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
