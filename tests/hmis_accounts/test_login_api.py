"""Login activity in by API: the same semantics as the login report's CSV
import (the same rows move the same accounts the same way), each batch all
or nothing, a replay changes nothing, bad rows named with nothing changed,
bounded, audited as the key's owner."""

import datetime as dt
import functools
import json

import pytest
import time_machine
from django.core.management import call_command

import hmis_accounts.services
from accounts.apikeys.models import ApiKey
from hmis_access.models import HMISAccount
from hmis_portal.core.models import AuditEvent
from tests.api_keys import make_key, post_json
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.hmis_access.hmis import local

pytestmark = pytest.mark.django_db
URL = "/api/v1/hmis-logins/"
NOW = local(dt.date(2026, 12, 1), 12)
CLOCKS = ("last_hmis_login_at", "inactivity_counted_from", "retraining_counted_from", "must_log_in_by",
          "must_log_in_before")


@pytest.fixture(autouse=True)
def _at_noon():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def accounts():
    old = local(dt.date(2026, 10, 1), 9)
    made = {name: HMISAccountFactory(hmis_username=name, last_hmis_login_at=old, provisioned_at=old,
                                     inactivity_counted_from=old.date(), retraining_counted_from=old.date())
            for name in ("avery.one", "blake.two", "casey.three", "devon.four", "emery.five")}
    # Reactivated on Nov 30, to log in that day: a later login meets the rule.
    HMISAccount.objects.filter(hmis_username="devon.four").update(
        reactivated_at=local(dt.date(2026, 11, 30), 10), must_log_in_by=dt.date(2026, 11, 30),
        must_log_in_before=local(dt.date(2026, 12, 1), 0))
    # Already has a later login than the batch's.
    HMISAccount.objects.filter(hmis_username="emery.five").update(last_hmis_login_at=local(dt.date(2026, 11, 29), 8))
    return made


@pytest.fixture
def key():
    return make_key(StaffFactory(groups=["CoC provisioning"]), "hmis-logins:write")


def _clocks() -> dict:
    return {row["hmis_username"]: row for row in HMISAccount.objects.order_by("pk").values("hmis_username", *CLOCKS)}


# One batch, as the vendor sends it and as the CSV report carries it.
BATCH = [
    {"username": "avery.one", "last_login": "2026-11-10T08:15:00-08:00"},
    {"username": "blake.two", "last_login": "2026-11-12 17:30"},            # no offset: the CoC's time
    {"username": "casey.three", "last_login": "2026-11-12T23:30:00-08:00"},  # already the 13th in UTC
    {"username": "casey.three", "last_login": "2026-11-11T07:00:00Z"},       # the later login of the two wins
    {"username": "devon.four", "last_login": "2026-11-30T15:00:00-08:00"},
    {"username": "emery.five", "last_login": "2026-11-20T08:00:00-08:00"},   # older than recorded: unchanged
]
CSV = "HMIS Username,Last Login Time\n" + "".join(f"{row['username']},{row['last_login']}\n" for row in BATCH)


def test_the_api_moves_the_accounts_exactly_as_the_csv_import_does(client, key, accounts, tmp_path):
    before = _clocks()
    response = post_json(client, URL, {"logins": BATCH}, key)
    assert response.status_code == 200, response.content
    assert response.json() == {"rows": 6, "updated": 4, "unchanged": 1, "never_logged_in": 0}
    by_api = _clocks()

    # The same accounts put back, then the same rows as the CSV report.
    for name, row in before.items():
        HMISAccount.objects.filter(hmis_username=name).update(**{field: row[field] for field in CLOCKS})
    assert _clocks() == before
    path = tmp_path / "logins.csv"
    path.write_text(CSV, encoding="utf-8")
    call_command("import_hmis_logins", str(path), "--no-progress", stdout=open("/dev/null", "w"))
    by_csv = _clocks()

    assert by_api == by_csv
    assert by_api != before
    assert by_api["casey.three"]["inactivity_counted_from"] == dt.date(2026, 11, 12)
    assert by_api["blake.two"]["last_hmis_login_at"] == local(dt.date(2026, 11, 12), 17, 30)
    assert by_api["devon.four"]["must_log_in_by"] is None
    assert by_api["emery.five"] == before["emery.five"]


def test_a_replay_changes_nothing(client, key, accounts):
    assert post_json(client, URL, {"logins": BATCH}, key).json()["updated"] == 4
    after_first = _clocks()
    replay = post_json(client, URL, {"logins": BATCH}, key)
    assert replay.status_code == 200
    assert replay.json() == {"rows": 6, "updated": 0, "unchanged": 5, "never_logged_in": 0}
    assert _clocks() == after_first


def test_a_batch_is_audited_as_the_key_s_owner_with_the_key(client, key, accounts):
    post_json(client, URL, {"logins": BATCH[:2]}, key)
    event = AuditEvent.objects.get(verb="imported the HMIS login report")
    api_key = ApiKey.objects.get()
    assert event.actor == api_key.owner
    assert event.data["api_key"] == api_key.pk
    assert event.data["updated"] == 2 and event.data["rows"] == 2


def test_bad_rows_are_named_and_nothing_changes(client, key, accounts):
    before, events = _clocks(), AuditEvent.objects.count()
    batch = [
        {"username": "avery.one", "last_login": "2026-11-10T08:15:00-08:00"},
        {"username": "nobody.here", "last_login": "2026-11-10T08:15:00-08:00"},
        {"username": "blake.two", "last_login": "not a date"},
        {"username": "casey.three", "last_login": "2031-01-01T00:00:00-08:00"},
        {"username": "", "last_login": "2026-11-10T08:15:00-08:00"},
        {"username": "devon.four", "last_login": 20261110},
        "emery.five",
        {"username": "emery\u0000.five", "last_login": "2026-11-10T08:15:00-08:00"},
        {"username": "blake.two", "last_login": None},
    ]
    response = post_json(client, URL, {"logins": batch}, key)
    assert response.status_code == 400
    body = response.json()
    assert "7 bad rows of 9" in body["detail"] and "nothing was changed" in body["detail"]
    named = {row["index"]: row for row in body["bad_rows"]}
    assert sorted(named) == [1, 2, 3, 4, 5, 6, 7]
    assert named[1]["username"] == "nobody.here" and "No HMIS account" in named[1]["problem"]
    assert named[2]["username"] == "blake.two" and "not a date" in named[2]["problem"]
    assert "future" in named[3]["problem"]
    assert "empty" in named[4]["problem"]
    assert "control character" in named[7]["problem"]
    assert _clocks() == before
    assert AuditEvent.objects.count() == events


def test_a_row_listed_without_a_login_is_not_an_error(client, key, accounts):
    response = post_json(client, URL, {"logins": [{"username": "avery.one", "last_login": None},
                                                  {"username": "blake.two"}]}, key)
    assert response.status_code == 200
    assert response.json() == {"rows": 2, "updated": 0, "unchanged": 0, "never_logged_in": 2}


def test_a_batch_is_all_or_nothing(client, key, accounts, monkeypatch):
    """A failure while applying the second part of a batch leaves the first
    part unapplied too."""
    before = _clocks()
    real = hmis_accounts.services._apply_logins
    calls = []

    def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(hmis_accounts.services, "_apply_logins", failing_second)
    monkeypatch.setattr("hmis_accounts.api.record_hmis_logins",
                        functools.partial(hmis_accounts.services.record_hmis_logins, batch_size=1))
    with pytest.raises(RuntimeError):
        post_json(client, URL, {"logins": BATCH}, key)
    assert len(calls) == 2
    assert _clocks() == before


def test_a_batch_is_bounded(client, key, accounts, settings):
    before = _clocks()
    settings.HMIS_LOGIN_BATCH_MAX = 3
    too_many = post_json(client, URL, {"logins": BATCH[:4]}, key)
    assert too_many.status_code == 413
    assert "at most 3" in too_many.json()["detail"]
    settings.HMIS_LOGIN_BATCH_MAX = 5000
    settings.HMIS_LOGIN_BATCH_MAX_BYTES = 200
    too_big = post_json(client, URL, {"logins": BATCH}, key)
    assert too_big.status_code == 413
    assert _clocks() == before


@pytest.mark.parametrize("body", ["not json", "[]", '{"logins": "avery.one"}', '{"rows": []}'])
def test_a_body_that_is_not_a_batch_is_400(client, key, accounts, body):
    response = client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_key_of_someone_who_does_not_import_logins_is_403_and_changes_nothing(client, accounts):
    before = _clocks()
    for owner in (StaffFactory(groups=["CoC training"]), MembershipFactory(persona="agency_administrator").user):
        response = post_json(client, URL, {"logins": BATCH}, make_key(owner, "hmis-logins:write"))
        assert response.status_code == 403
    assert _clocks() == before


def test_a_read_key_cannot_send_logins(client, accounts):
    response = post_json(client, URL, {"logins": BATCH},
                         make_key(StaffFactory(groups=["CoC provisioning"]), "read"))
    assert response.status_code == 403
    assert json.loads(response.content)["detail"] == "This key does not have the scope “hmis-logins:write”."
