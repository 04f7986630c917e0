"""The timeliness sweep: overdue alert to the provider, escalation to the CES
team at the margin, the policy's move, each once however often it runs."""

import datetime as dt

import pytest
from django.core.management import call_command

from hmis_portal.core.models import Notification
from referrals import services
from referrals.models import Referral
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db
LA = dt.timezone(dt.timedelta(hours=-8))  # PST: the dates below are all in winter


def sweep(at: str):
    call_command("run_sweeps", "--at", at, "--only", "referral-timeliness")


def test_overdue_then_escalated_once_each_however_often_the_sweep_runs():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    ces = matcher()
    # Monday Jan 5 2026: due by the end of Wednesday Jan 7; escalation at the
    # end of Friday Jan 9 (2 business days later).
    referral = make_referral(program, actor=ces, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    Notification.objects.all().delete()

    sweep("2026-01-07T23:59")
    assert not Notification.objects.exists()

    sweep("2026-01-08T00:05")
    sweep("2026-01-08T00:20")  # run twice: nothing new
    overdue = Notification.objects.filter(subject__startswith="Overdue CES referral")
    assert list(overdue.values_list("to_email", flat=True)) == [staff.email]
    assert not Notification.objects.filter(to_email=ces.email).exists()
    referral.refresh_from_db()
    assert referral.overdue_notified_at is not None and referral.status.code == "matched"

    sweep("2026-01-10T00:05")
    sweep("2026-01-10T00:05")
    escalated = Notification.objects.filter(subject__startswith="Escalated")
    assert list(escalated.values_list("to_email", flat=True)) == [ces.email]
    assert overdue.count() == 1
    referral.refresh_from_db()
    # Policy: the initial status's no-response status is the CES-team-only one.
    assert referral.status.code == "did-not-respond" and not referral.is_open
    assert referral.awaiting_rereferral
    last = referral.transitions.order_by("-made_at").first()
    assert last.actor is None and last.within_standard is False


def test_a_referral_the_provider_moved_is_not_alerted():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"),
                                    at=dt.datetime(2026, 1, 6, 10, 0, tzinfo=LA))
    Notification.objects.all().delete()
    sweep("2026-01-10T00:05")
    assert not Notification.objects.exists()
    # Attempting contact: 10 calendar days from Jan 6, overdue after Jan 16.
    sweep("2026-01-17T00:05")
    assert Notification.objects.filter(subject__startswith="Overdue").count() == 1
    referral.refresh_from_db()
    assert referral.status.code == "attempting-contact"  # no move is set for this status


def test_without_a_no_response_status_the_sweep_only_escalates():
    initial = status("matched")
    initial.no_response_status = None
    initial.save()
    referral = make_referral(at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    sweep("2026-01-12T00:05")
    referral.refresh_from_db()
    assert referral.status.code == "matched" and referral.escalated_at is not None


def test_the_sweep_is_bounded_per_run():
    from referrals.models import ReferralPolicy

    ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=2)
    program = ProgramFactory()
    for _ in range(3):
        make_referral(program, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    sweep("2026-01-08T00:05")
    assert Referral.objects.filter(overdue_notified_at__isnull=False).count() == 2
    sweep("2026-01-08T00:20")
    assert Referral.objects.filter(overdue_notified_at__isnull=False).count() == 3


def sweep_state() -> dict:
    """Everything the sweep writes, without row ids and wall-clock stamps, so
    two ways of sweeping can be compared row for row."""
    from hmis_portal.core.models import AuditEvent
    from referrals.models import ReferralTransition

    referrals = sorted(Referral.objects.values_list(
        "pk", "status_id", "status_entered_at", "is_open", "due_at", "escalate_at", "overdue_notified_at",
        "escalated_at", "closed_at", "version"))
    transitions = sorted(ReferralTransition.objects.values_list(
        "referral_id", "from_status_id", "to_status_id", "actor_id", "made_at", "note", "from_due_at",
        "within_standard", "days_in_status"), key=repr)
    events = sorted(AuditEvent.objects.values_list(
        "actor_id", "verb", "content_type_id", "object_id", "object_repr", "from_state", "to_state", "reason"),
        key=repr)
    notifications = sorted(Notification.objects.values_list(
        "recipient_id", "to_email", "subject", "body", "link", "dedupe_key", "status"), key=repr)
    return {
        "referrals": referrals, "transitions": transitions, "events": events, "notifications": notifications,
        "overdue_alerts": sum(1 for e in events if e[1] == "became overdue"),
        "escalated": sum(1 for e in events if e[1] == "escalated to the CES team"),
    }


def _backlog():
    """Referrals of two agencies, due one after the other: at the moment used
    below all are overdue and past the escalation margin, in the same order."""
    from referrals.models import ReferralPolicy

    ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=6)
    ces = matcher()
    programs = [ProgramFactory(), ProgramFactory()]
    for program in programs:
        provider_staff(program.organization)
        provider_staff(program.organization)
    attempting = []
    for day in (5, 6, 7, 8, 9):
        for program in programs:
            referral = make_referral(program, actor=ces, at=dt.datetime(2026, 1, day, 10, 0, tzinfo=LA))
            if day == 9:
                attempting.append(referral)
    # Two are in a status with its own standard and no policy move.
    for referral in attempting:
        services.referral_change_status(actor=ces, referral_id=referral.pk, to_status=status("attempting-contact"),
                                        at=dt.datetime(2026, 1, 9, 11, 0, tzinfo=LA))
    return dt.datetime(2026, 2, 10, 0, 5, tzinfo=LA)


def _outcome_of(now, *batch_sizes):
    """The rows after sweeps with these batch sizes, run one after the
    other; everything rolled back afterwards."""
    from django.db import transaction

    from referrals.models import ReferralPolicy

    with transaction.atomic():
        for size in batch_sizes:
            ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=size)
            services.sweep_timeliness(now=now)
        state = sweep_state()
        transaction.set_rollback(True)
    return state


def test_two_runs_or_a_run_split_in_two_make_exactly_the_rows_of_one_run():
    now = _backlog()
    once = _outcome_of(now, 10)
    assert once["overdue_alerts"] == 10 and once["escalated"] == 10
    assert sum(1 for t in once["transitions"] if t[3] is None) == 8  # moved by policy: the matched ones
    assert _outcome_of(now, 10, 10) == once
    # Split across two calls (two workers, or a run killed after its first batch and run again).
    assert _outcome_of(now, 5, 5) == once
    assert _outcome_of(now, 3, 3, 3, 3) == once
    # What one run sent, each once.
    keys = [n[5] for n in once["notifications"] if n[5]]
    assert len(keys) == len(set(keys))
    assert sum(1 for k in keys if k.startswith("referral-overdue:")) == 20  # two staff per agency
    assert sum(1 for k in keys if k.startswith("referral-escalated:")) == 10  # one CES team member


def test_a_run_killed_half_way_changes_nothing_and_the_next_run_does_it_all(monkeypatch):
    now = _backlog()
    once = _outcome_of(now, 10)
    before = sweep_state()

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    # Killed after the claim and the audit events, at the first messages.
    monkeypatch.setattr(services, "tell_about_referrals", killed)
    with pytest.raises(RuntimeError):
        services.sweep_timeliness(now=now)
    assert sweep_state() == before
    monkeypatch.undo()
    assert _outcome_of(now, 10) == once


def test_the_sweep_is_a_constant_number_of_statements(django_assert_max_num_queries):
    now = _backlog()
    with django_assert_max_num_queries(40) as small:
        services.sweep_timeliness(now=now)
    from referrals.models import Referral as R

    R.objects.update(overdue_notified_at=None, escalated_at=None)
    program = ProgramFactory()
    provider_staff(program.organization)
    for _ in range(30):
        make_referral(program, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    from referrals.models import ReferralPolicy

    ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=100)
    due = R.objects.filter(is_open=True, due_at__lte=now).count()
    assert due > 30
    with django_assert_max_num_queries(len(small.captured_queries) + 2):
        result = services.sweep_timeliness(now=now)
    assert result["overdue"] == due


# --- split into chunks that several workers take -------------------------------

def _outcome_of_the_daily_job(now, settings, chunks):
    from django.db import transaction

    from referrals.tasks import referral_timeliness_sweep

    settings.SWEEP_CHUNKS = chunks
    with transaction.atomic():
        summary = referral_timeliness_sweep(at=now.isoformat())
        state = sweep_state()
        transaction.set_rollback(True)
    return summary, state


def test_the_daily_job_split_into_chunks_makes_exactly_the_rows_of_one_run(settings):
    now = _backlog()  # 10 referrals overdue and past the margin; 6 of each kind per run
    once = _outcome_of(now, 6)
    assert once["overdue_alerts"] == 6 and once["escalated"] == 6
    moved = sum(1 for t in once["transitions"] if t[3] is None)
    assert moved
    for chunks in (1, 2, 3, 20):
        summary, state = _outcome_of_the_daily_job(now, settings, chunks)
        assert summary == f"6 overdue alerts, 6 escalations, {moved} moved for no response", chunks
        assert state == once, chunks


def test_the_daily_job_runs_eagerly_in_a_process_that_has_hosted_a_worker(settings):
    """A process that has run a Celery worker (the test worker, `celery -P solo`)
    marks joins as blocking; the eager run only reads results already made."""
    from celery._state import _set_task_join_will_block, task_join_will_block

    now = _backlog()
    blocking = task_join_will_block()
    _set_task_join_will_block(True)
    try:
        summary, _ = _outcome_of_the_daily_job(now, settings, 2)
    finally:
        _set_task_join_will_block(blocking)
    assert summary.startswith("6 overdue alerts, 6 escalations")


def test_a_chunk_acts_only_on_its_own_referrals_and_only_once():
    from referrals.sweep import plan

    now = _backlog()
    chunks = plan(now=now, parts=2)
    assert len(chunks) == 2
    (overdue, escalation), (later_overdue, later_escalation) = chunks
    assert overdue and escalation and max(overdue + escalation) < min(later_overdue + later_escalation)
    first = services.sweep_timeliness(now=now, overdue_ids=overdue, escalation_ids=escalation)
    assert first["overdue"] == len(overdue) and first["escalated"] == len(escalation)
    from hmis_portal.core.models import AuditEvent

    def told(verb):
        return {int(pk) for pk in AuditEvent.objects.filter(verb=verb).values_list("object_id", flat=True)}

    assert told("became overdue") == set(overdue) and told("escalated to the CES team") == set(escalation)
    # Delivered again (its worker died after committing): nothing more.
    before = sweep_state()
    again = services.sweep_timeliness(now=now, overdue_ids=overdue, escalation_ids=escalation)
    assert again == {"overdue": 0, "escalated": 0, "moved": 0}
    assert sweep_state() == before


def test_nothing_due_queues_no_chunk(settings):
    from referrals.sweep import plan
    from referrals.tasks import referral_timeliness_sweep

    make_referral(at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    assert plan(now=dt.datetime(2026, 1, 6, 0, 5, tzinfo=LA), parts=4) == []
    assert referral_timeliness_sweep(at="2026-01-06T00:05") == "0 overdue alerts, 0 escalations, 0 moved for no response"
