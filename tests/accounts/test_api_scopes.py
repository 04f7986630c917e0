"""What each scope of an API key reads, field by field. The scopes are
`read` (a dashboard's, a warehouse's, the HMIS vendor's view of the
participation, setup, access and account states) and `hmis-logins:write`
(the HMIS vendor sending login activity). Neither's purpose needs a client:
no collection, detail, error or schema carries a client identifier (the HMIS
client ID, the CE enrollment ID, the name, phone, email or notes of contact),
whoever owns the key, and the write scope reads no collection at all."""

import pytest
from django.urls import reverse

from tests.api_keys import bearer, make_key, post_json
from tests.factories import StaffFactory
from tests.read_api import agency_with_work
from tests.referrals.factories import ProgramFactory, make_referral

pytestmark = pytest.mark.django_db

COLLECTIONS = ("agency", "program", "access-request", "hmis-account", "referral-count", "partnership")
WITH_DETAIL = ("agency", "program", "access-request", "hmis-account", "partnership")
CLIENT_FIELDS = {"hmis_client_id", "client_id", "client", "ce_enrollment_id", "enrollment_id", "contact_name",
                 "contact_phone", "contact_email", "contact_notes"}
CLIENT = {"client_id": "CL7731QX", "ce_enrollment_id": "ENR55190ZT", "contact_name": "Wrenna Quill",
          "contact_phone": "555-0142-88", "contact_email": "wrenna.quill@example.org",
          "contact_notes": "Prefers texts after noon"}
# The CoC staff who see the most: every agency's every collection.
EVERY_GROUP = ["CoC system admin", "CES team", "CoC provisioning", "CoC implementation"]


@pytest.fixture
def work():
    rows = agency_with_work("Alpha Housing")
    program = ProgramFactory(organization_id=rows["agency"])
    make_referral(program, **CLIENT)
    return rows


def _keys(row, found):
    if isinstance(row, dict):
        for name, value in row.items():
            found.add(name)
            _keys(value, found)
    elif isinstance(row, list):
        for value in row:
            _keys(value, found)
    return found


def _assert_no_client(response):
    text = response.content.decode()
    assert not [value for value in CLIENT.values() if value in text], text[:500]
    assert not _keys(response.json(), set()) & CLIENT_FIELDS


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_the_read_scope_reads_no_client_identifier(client, work, collection):
    key = make_key(StaffFactory(groups=EVERY_GROUP), "read")
    listed = client.get(reverse(f"api:{collection}-list"), {"page_size": 200}, **bearer(key))
    assert listed.status_code == 200 and listed.json()["results"], collection
    _assert_no_client(listed)
    if collection in WITH_DETAIL:
        detail = client.get(reverse(f"api:{collection}-detail", args=[work[collection]]), **bearer(key))
        assert detail.status_code == 200
        _assert_no_client(detail)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_the_read_scope_cannot_search_or_filter_by_a_client(client, work, collection, settings):
    """A client's identifier finds nothing a made-up one of the same shape
    does not: no filter or search of a collection looks at clients."""
    # 72 requests with one key: under the default limit (60 a minute) the last
    # twelve were all refused alike (429), and the last name was never compared.
    # The limit's own tests are in test_api.py.
    settings.API_KEY_REQUESTS_PER_MINUTE = 100_000
    key = make_key(StaffFactory(groups=EVERY_GROUP), "read")
    url = reverse(f"api:{collection}-list")
    for name in ("client", "hmis_client_id", "ce_enrollment_id", "q", "search", "contact"):
        for value in CLIENT.values():
            made_up = "".join("Z" if c.isalpha() else "9" if c.isdigit() else c for c in value)
            found = client.get(url, {name: value}, **bearer(key))
            other = client.get(url, {name: made_up}, **bearer(key))
            assert found.status_code == other.status_code, (collection, name)
            if found.status_code == 200:
                assert found.json()["results"] == other.json()["results"], (collection, name, value)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_the_hmis_logins_scope_reads_no_collection(client, work, collection):
    key = make_key(StaffFactory(groups=EVERY_GROUP), "hmis-logins:write")
    listed = client.get(reverse(f"api:{collection}-list"), **bearer(key))
    assert listed.status_code == 403
    _assert_no_client(listed)
    if collection in WITH_DETAIL:
        detail = client.get(reverse(f"api:{collection}-detail", args=[work[collection]]), **bearer(key))
        assert detail.status_code == 403
        _assert_no_client(detail)


def test_the_hmis_logins_scope_s_answers_name_only_what_it_sent(client, work):
    key = make_key(StaffFactory(groups=EVERY_GROUP), "hmis-logins:write")
    url = reverse("api:hmis-logins")
    bad = post_json(client, url, {"logins": [{"username": "nobody-here", "last_login": "not a time"}]}, key)
    assert bad.status_code == 400
    _assert_no_client(bad)
    assert _keys(bad.json(), set()) <= {"detail", "bad_rows", "index", "username", "problem", "logins"}


def test_the_schema_names_no_client_field(client):
    schema = client.get(reverse("api:openapi")).json()
    properties = set()
    for component in schema["components"]["schemas"].values():
        properties |= set(component.get("properties", {}))
    parameters = {parameter["name"] for path in schema["paths"].values() for operation in path.values()
                  for parameter in operation.get("parameters", [])}
    assert not (properties | parameters) & CLIENT_FIELDS
