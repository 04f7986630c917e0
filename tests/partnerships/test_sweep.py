"""The entry-deadline sweep: overdue batches flagged to the partner agency's
people, escalated to CoC staff after the margin, once each, however often it runs."""

import datetime as dt

import pytest
from django.core.management import call_command

from hmis_portal.core import calendar
from hmis_portal.core.models import AuditEvent, Holiday, Notification
from partnerships import services
from partnerships.models import IntakeBatch
from partnerships.sweep import sweep_entry_deadlines
from tests.partnerships.factories import active, batch, coc_staff, enterer, person

pytestmark = pytest.mark.django_db


def local(*args):
    return dt.datetime(*args, tzinfo=calendar.coc_timezone())


@pytest.fixture
def setting():
    partnership = active()
    return {"partnership": partnership, "enterer": enterer(partnership.partner), "sender": person(partnership.agency),
            "staff": coc_staff("CoC implementation"), "ces": coc_staff("CES team")}


def overdue_mail():
    return Notification.objects.filter(dedupe_key__startswith="intake-overdue:")


def escalation_mail():
    return Notification.objects.filter(dedupe_key__startswith="intake-escalated:")


def test_due_by_the_end_of_the_third_business_day_not_before(setting):
    # Received Friday Oct 2: due by the end of Wednesday Oct 7.
    recorded = batch(setting["partnership"], received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    assert sweep_entry_deadlines(now=local(2026, 10, 7, 23, 59)) == {"flagged": 0, "escalated": 0}
    assert sweep_entry_deadlines(now=local(2026, 10, 8, 0, 5)) == {"flagged": 1, "escalated": 0}
    recorded.refresh_from_db()
    assert recorded.overdue_notified_at == local(2026, 10, 8, 0, 5) and recorded.escalated_at is None
    # The partner agency's people who enter intakes into HMIS are told; not its
    # Executive Director without HMIS access, not the sender, not CoC staff.
    assert set(overdue_mail().values_list("to_email", flat=True)) == {setting["enterer"].email}
    assert "Due by end of Wed, Oct 7" in overdue_mail().first().body
    assert AuditEvent.objects.filter(verb="became overdue", object_id=str(recorded.pk)).count() == 1


def test_a_holiday_and_a_weekend_move_the_deadline(setting):
    # Received Friday Nov 6 (local): Mon 9, Tue 10, Veterans Day Wed 11 skipped, Thu 12.
    batch(setting["partnership"], received_at=local(2026, 11, 6, 15, 0), at=local(2026, 11, 6, 15, 5))
    assert sweep_entry_deadlines(now=local(2026, 11, 12, 12, 0))["flagged"] == 0
    assert sweep_entry_deadlines(now=local(2026, 11, 13, 0, 1))["flagged"] == 1


def test_a_coc_closure_moves_the_deadline(setting):
    Holiday.objects.create(date=dt.date(2026, 10, 6), name="CoC closure")
    batch(setting["partnership"], received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    assert sweep_entry_deadlines(now=local(2026, 10, 8, 12, 0))["flagged"] == 0
    assert sweep_entry_deadlines(now=local(2026, 10, 9, 0, 1))["flagged"] == 1


def test_flagged_then_escalated_to_coc_staff_once_each(setting):
    recorded = batch(setting["partnership"], received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    sweep_entry_deadlines(now=local(2026, 10, 8, 7, 20))
    assert not escalation_mail().exists()
    # The escalation margin (1 business day): after the end of Thursday Oct 8.
    assert sweep_entry_deadlines(now=local(2026, 10, 8, 23, 0)) == {"flagged": 0, "escalated": 0}
    assert sweep_entry_deadlines(now=local(2026, 10, 9, 7, 20)) == {"flagged": 0, "escalated": 1}
    assert set(escalation_mail().values_list("to_email", flat=True)) == {setting["staff"].email}
    # Re-runs change nothing and send nothing twice.
    before = Notification.objects.count(), AuditEvent.objects.count()
    for _ in range(2):
        assert sweep_entry_deadlines(now=local(2026, 10, 12, 7, 20)) == {"flagged": 0, "escalated": 0}
    assert (Notification.objects.count(), AuditEvent.objects.count()) == before
    recorded.refresh_from_db()
    assert recorded.escalated_at == local(2026, 10, 9, 7, 20)


def test_a_late_first_run_flags_and_escalates_together(setting):
    batch(setting["partnership"], received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    assert sweep_entry_deadlines(now=local(2026, 10, 20, 7, 20)) == {"flagged": 1, "escalated": 1}


def test_entered_batches_and_ended_partnerships_are_not_chased(setting):
    partnership = setting["partnership"]
    entered = batch(partnership, received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    services.intake_batch_record_entry(actor=setting["enterer"], batch_id=entered.pk,
                                       entered_at=local(2026, 10, 5, 9, 0), at=local(2026, 10, 5, 9, 1))
    other = active()
    batch(other, received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    services.partnership_end(actor=other.proposed_by, partnership_id=other.pk, reason="Joined HMIS.")
    assert sweep_entry_deadlines(now=local(2026, 10, 20, 7, 20)) == {"flagged": 0, "escalated": 0}


def test_each_run_is_bounded_by_the_policy_and_the_next_continues(setting):
    from partnerships.models import PartnershipPolicy

    policy = PartnershipPolicy.current()
    policy.sweep_batch_size = 2
    policy.save()
    for minute in range(5):
        batch(setting["partnership"], received_at=local(2026, 10, 2, 16, minute), at=local(2026, 10, 2, 17, 0))
    now = local(2026, 10, 8, 7, 20)
    assert [sweep_entry_deadlines(now=now)["flagged"] for _ in range(4)] == [2, 2, 1, 0]
    assert not IntakeBatch.objects.filter(overdue_notified_at__isnull=True).exists()
    # Each batch to the partner's one person with HMIS access, once (its
    # Executive Director, without access, enters nothing).
    assert overdue_mail().count() == 5


def test_a_crash_after_the_messages_are_queued_sends_nothing_twice(setting):
    """A run that claimed and queued, then lost its stamp (killed before the
    stamp was kept, restored by hand): the dedupe keys keep the outbox as it was."""
    recorded = batch(setting["partnership"], received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    sweep_entry_deadlines(now=local(2026, 10, 8, 7, 20))
    IntakeBatch.objects.filter(pk=recorded.pk).update(overdue_notified_at=None)
    sent = overdue_mail().count()
    sweep_entry_deadlines(now=local(2026, 10, 8, 7, 40))
    assert overdue_mail().count() == sent


def test_run_sweeps_runs_it(setting):
    from io import StringIO

    batch(setting["partnership"], received_at=local(2026, 10, 2, 16, 0), at=local(2026, 10, 2, 16, 5))
    out = StringIO()
    call_command("run_sweeps", at="2026-10-09T07:20", stdout=out)
    assert "1 overdue intake batch flagged, 1 escalation" in out.getvalue()
    assert "intake-entry-deadlines" in out.getvalue()
