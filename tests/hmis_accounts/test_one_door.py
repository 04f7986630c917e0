"""One door for an HMIS account's transitions: an account made Inactive (or
required to retrain) alone, and accounts changed as a set (the nightly
sweep's batch), go through the same service and get the same rows: the
account's columns, its audit event and the HMIS deactivation it queues. A
reactivation request that waits again for retraining has its one door too."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from hmis_access.models import AccessPolicy, HMISAccount
from hmis_accounts import services
from hmis_accounts.models import ReactivationRequest
from hmis_portal.core.models import AuditEvent, ProvisioningCommand
from tests.hmis_access.hmis import account_last_login, local, sweep

pytestmark = pytest.mark.django_db

AT = local(dt.date(2026, 6, 15), 0, 5)
NOTE = "No HMIS login for 30 days."


def _rows(account_id: int) -> dict:
    account = HMISAccount.objects.filter(pk=account_id).values(
        "status", "inactive_since", "inactive_reason", "must_log_in_by", "must_log_in_before",
        "retraining_required", "retraining_required_on").get()
    events = list(AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(HMISAccount, for_concrete_model=False),
        object_id=str(account_id)).values_list(
        "actor_id", "verb", "from_state", "to_state", "reason"))
    commands = list(ProvisioningCommand.objects.filter(subject=str(account_id)).values_list(
        "kind", "payload", "dedupe_key"))
    commands = [(kind, payload, key.removesuffix(f":{account_id}") + ":<id>" if key else key)
                for kind, payload, key in commands]
    return {"account": account, "events": events, "commands": commands}


@pytest.fixture
def provisioning(settings):
    settings.HMIS_SCIM_URL = "http://hmis.example.org/scim/v2"
    settings.HMIS_SCIM_TOKEN = "token"
    return settings


def _three():
    login = local(dt.date(2026, 5, 1), 10)
    return [account_last_login(login) for _ in range(3)]


@pytest.mark.parametrize("reason", list(HMISAccount.InactiveReason))
def test_a_set_is_made_inactive_as_each_account_would_be_alone(provisioning, reason):
    alone, first, second = _three()
    with transaction.atomic():
        changed = services.hmis_account_make_inactive(accounts=alone, reason=reason, note=NOTE, at=AT)
    # The object the caller holds is the row as it is now.
    assert (alone.status, alone.inactive_since, alone.inactive_reason) == (HMISAccount.Status.INACTIVE, AT, reason)
    assert [row[0] for row in changed] == [alone.pk]
    with transaction.atomic():
        changed = services.hmis_account_make_inactive(accounts=[second.pk, first.pk], reason=reason, note=NOTE, at=AT)
    assert [row[:3] for row in changed] == sorted(
        (a.pk, a.user_id, a.organization_id) for a in (first, second))
    one = _rows(alone.pk)
    assert _rows(first.pk) == _rows(second.pk) == one
    assert one["events"] == [(None, "made inactive", "Active", "Inactive", NOTE)]
    assert one["commands"] == [(ProvisioningCommand.Kind.DEACTIVATE, {"active": False},
                                f"inactive:{AT.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ}:<id>")]


def test_an_account_already_inactive_is_left_as_it_is(provisioning):
    account, _, _ = _three()
    reason = HMISAccount.InactiveReason.NO_LOGIN
    services.hmis_account_make_inactive(accounts=account, reason=reason, note=NOTE, at=AT)
    before = _rows(account.pk)
    # A second submit (or the sweep after a person): nothing changes, nothing is written again.
    later = AT + dt.timedelta(hours=3)
    assert services.hmis_account_make_inactive(accounts=account, reason=reason, note=NOTE, at=later) == []
    assert services.hmis_account_make_inactive(accounts=[account.pk], reason=reason, note=NOTE, at=later) == []
    assert _rows(account.pk) == before
    assert account.inactive_since == AT


def test_retraining_is_required_alone_as_in_a_set_and_a_ready_request_waits_again():
    alone, first, second = _three()
    policy = AccessPolicy.current()
    for account in (alone, first):
        services.hmis_account_make_inactive(accounts=account, reason=HMISAccount.InactiveReason.NO_LOGIN,
                                            note=NOTE, at=AT)
        services.reactivation_request_create(actor=account.user, account=account, at=AT)
    note = "No HMIS login for 90 days."
    services.hmis_account_require_retraining(accounts=alone, note=note, at=AT)
    assert alone.retraining_required and alone.retraining_required_on == AT.date()
    changed = services.hmis_account_require_retraining(accounts=[second.pk, first.pk], note=note, at=AT)
    assert [row[0] for row in changed] == sorted([first.pk, second.pk])
    retrained = [_rows(pk) for pk in (alone.pk, first.pk, second.pk)]
    assert retrained[0]["account"] == retrained[1]["account"]
    assert [[e for e in rows["events"] if e[1] == "retraining required"] for rows in retrained] == [
        [(None, "retraining required", "", "Retraining required", note)]] * 3
    for account in (alone, first):
        request = ReactivationRequest.objects.get(account=account)
        assert (request.status, request.ready_at, request.provisioning_due_at) == (
            ReactivationRequest.Status.WAITING_FOR_RETRAINING, None, None)
        assert AuditEvent.objects.filter(object_id=str(request.pk), verb="retraining required",
                                         from_state="Ready for provisioning").exists()
        assert set(account.retraining_courses.values_list("pk", flat=True)) == set(
            policy.retraining_courses.values_list("pk", flat=True))
    # Again: nothing more.
    assert services.hmis_account_require_retraining(accounts=[alone.pk, first.pk], note=note, at=AT) == []


def test_a_request_waits_for_retraining_alone_or_as_a_set_and_only_from_ready():
    accounts = _three()
    requests = []
    for account in accounts:
        services.hmis_account_make_inactive(accounts=account, reason=HMISAccount.InactiveReason.NO_LOGIN,
                                            note=NOTE, at=AT)
        requests.append(services.reactivation_request_create(actor=account.user, account=account, at=AT))
    alone, *rest = requests
    assert services.reactivation_request_wait_for_retraining(reactivation_requests=alone) == 1
    assert alone.status == ReactivationRequest.Status.WAITING_FOR_RETRAINING and alone.provisioning_due_at is None
    assert services.reactivation_request_wait_for_retraining(
        reactivation_requests=[r.pk for r in requests]) == 2
    assert services.reactivation_request_wait_for_retraining(reactivation_requests=[r.pk for r in requests]) == 0
    assert AuditEvent.objects.filter(verb="retraining required", to_state="Waiting for retraining").count() == 3


def test_the_sweeps_transitions_go_through_the_doors(monkeypatch):
    calls = []
    for name in ("hmis_account_make_inactive", "hmis_account_require_retraining"):
        door = getattr(services, name)

        def spy(door=door, name=name, **kwargs):
            calls.append((name, kwargs.get("reason")))
            return door(**kwargs)

        monkeypatch.setattr(services, name, spy)
    today = dt.date(2026, 6, 15)
    account_last_login(local(today - dt.timedelta(days=30), 10))
    account_last_login(local(today - dt.timedelta(days=90), 10))
    lapsed = account_last_login(local(today - dt.timedelta(days=3), 10))
    HMISAccount.objects.filter(pk=lapsed.pk).update(must_log_in_by=today - dt.timedelta(days=1),
                                                    reactivated_at=local(today - dt.timedelta(days=2), 9))
    sweep(local(today, 0, 5).isoformat())
    assert ("hmis_account_make_inactive", HMISAccount.InactiveReason.NO_LOGIN) in calls
    assert ("hmis_account_make_inactive", HMISAccount.InactiveReason.NO_LOGIN_AFTER_REACTIVATION) in calls
    assert ("hmis_account_require_retraining", None) in calls
    assert not HMISAccount.objects.filter(status=HMISAccount.Status.ACTIVE).exists()
