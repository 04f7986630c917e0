"""One door for a need-status change: a referral moved alone (a provider, the
CES team) and referrals moved as a set (the timeliness sweep's move) go
through the same service and get the same rows: the referral's columns and
deadlines, its transition, its audit event and its messages."""

import datetime as dt
import re

import pytest
from django.db import transaction

from hmis_portal.core.models import AuditEvent, Notification
from referrals import services
from referrals.models import NeedStatus, Referral, ReferralTransition
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db
LA = dt.timezone(dt.timedelta(hours=-8))  # PST: the dates below are all in winter


def _rows(referral_id: int) -> dict:
    """What a move wrote for one referral, with its id taken out of the texts
    (so two referrals moved the same way compare equal)."""
    client = Referral.objects.get(pk=referral_id).hmis_client_id

    def plain(value):
        if not isinstance(value, str):
            return value
        value = value.replace(f"of client {client} to", "of client <client> to")
        return re.sub(rf"(/referrals/|Referral |moved:){referral_id}(?=[/ :])", r"\1<id>", value)

    referral = Referral.objects.filter(pk=referral_id).values(
        "status_id", "status_entered_at", "is_open", "due_at", "escalate_at", "overdue_notified_at", "escalated_at",
        "closed_at", "version", "awaiting_rereferral", "enrollment_date").get()
    transition = ReferralTransition.objects.filter(referral_id=referral_id).order_by("-pk").values(
        "from_status_id", "to_status_id", "actor_id", "made_at", "note", "from_due_at", "within_standard",
        "days_in_status").first()
    events = [tuple(plain(v) for v in row) for row in AuditEvent.objects.filter(
        object_id=str(referral_id), verb="changed need status").values_list(
        "actor_id", "verb", "object_repr", "from_state", "to_state", "reason")]
    messages = sorted(tuple(plain(v) for v in row) for row in Notification.objects.filter(
        link__contains=f"/referrals/{referral_id}/").values_list(
        "recipient_id", "to_email", "subject", "body", "link", "dedupe_key", "status"))
    return {"referral": referral, "transition": transition, "events": events, "messages": messages}


def _three(at):
    program = ProgramFactory()
    provider_staff(program.organization)
    provider_staff(program.organization)
    ces = matcher()
    referrals = [make_referral(program, actor=ces, at=at) for _ in range(3)]
    Notification.objects.all().delete()
    return ces, referrals


@pytest.mark.parametrize("code", ["did-not-respond", "attempting-contact", "engaged"])
@pytest.mark.parametrize("who", ["schedule", "ces-team"])
def test_a_set_enters_a_status_as_each_referral_would_alone(code, who):
    if code == "engaged":
        # A standard counted from the referral date: each referral its own deadline.
        NeedStatus.objects.filter(code="engaged").update(counted_from=NeedStatus.CountedFrom.REFERRAL_DATE)
    ces, (alone, first, second) = _three(dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    Referral.objects.filter(pk=second.pk).update(referred_at=dt.datetime(2026, 1, 2, 10, 0, tzinfo=LA))
    actor = None if who == "schedule" else ces
    to_status, at = status(code), dt.datetime(2026, 1, 12, 9, 30, tzinfo=LA)
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=alone.pk)
        services.need_status_enter(referrals=referral, to_status=to_status, actor=actor, at=at, note="Moved.")
    # The object the caller holds is the row as it is now.
    assert (referral.status_id, referral.version, referral.due_at) == (
        to_status.pk, alone.version + 1, Referral.objects.get(pk=alone.pk).due_at)
    with transaction.atomic():
        moved = services.need_status_enter(referrals=[first.pk, second.pk], to_status=to_status, actor=actor, at=at,
                                           note="Moved.")
    assert moved == 2
    assert _rows(first.pk) == _rows(alone.pk)
    one = _rows(alone.pk)
    assert one["referral"]["status_id"] == to_status.pk and one["events"] and one["transition"]["note"] == "Moved."
    if to_status.returns_to_matching:
        assert one["referral"]["awaiting_rereferral"] and one["referral"]["due_at"] is None
    else:
        assert one["referral"]["due_at"] is not None
    # Who is told: the provider's people when the schedule or the CES team moved it.
    assert len(one["messages"]) == (2 if who == "schedule" or not to_status.returns_to_matching else 0)
    # Deadlines counted from the referral date differ by referral; from the status, they are the same.
    second_due = Referral.objects.get(pk=second.pk).due_at
    if code == "engaged":
        assert second_due < one["referral"]["due_at"]
    else:
        assert second_due == one["referral"]["due_at"]


def test_a_provider_moving_one_referral_tells_the_ces_team_through_the_same_door():
    ces, (referral, _, _) = _three(dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    staff = provider_staff(referral.program.organization)
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("rematch-needed"),
                                    note="No unit fits.", at=dt.datetime(2026, 1, 6, 10, 0, tzinfo=LA))
    message = Notification.objects.get(to_email=ces.email)
    assert message.subject == f"Referral {referral.pk}: {status('rematch-needed')}"
    assert message.body.startswith(f"{referral.program} set a referral to “{status('rematch-needed')}”. "
                                   "The client needs to be re-referred.")
    assert message.body.endswith(f"/referrals/{referral.pk}/") and message.dedupe_key is None
    assert AuditEvent.objects.filter(object_id=str(referral.pk), verb="changed need status", actor=staff).exists()


def test_the_sweeps_move_goes_through_the_door(monkeypatch):
    from django.core.management import call_command

    calls = []
    door = services.need_status_enter

    def spy(**kwargs):
        calls.append(kwargs)
        return door(**kwargs)

    monkeypatch.setattr(services, "need_status_enter", spy)
    _, referrals = _three(dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    call_command("run_sweeps", "--at", "2026-01-10T00:05", "--only", "referral-timeliness")
    # One call per chunk of the run, each with its referrals' ids.
    assert sorted(pk for call in calls for pk in call["referrals"]) == sorted(r.pk for r in referrals)
    assert all(call["actor"] is None and call["to_status"].code == "did-not-respond" for call in calls)
    assert Referral.objects.filter(status__code="did-not-respond").count() == 3
