"""The entry-deadline sweep, set-based (STYLE §5), in the house style of
`referrals.sweep`.

Each run flags at most `sweep_batch_size` intake batches that passed their
entry deadline without being recorded as entered (the partner agency's
people are told) and escalates as many that passed the escalation margin
(CoC staff who look after partnerships are told). Each of the two is one
transaction:

1. claim (`hmis_portal.core.bulk.claim`): one `UPDATE … RETURNING id` over
   the n most late batches not locked by anyone stamps them and says which
   it holds;
2. one insert of their audit events and one of their outbox rows, each
   message with a dedupe key (`intake-overdue:<id>`), so nothing is sent twice;
3. commit; the new messages go to the workers in one task.

Idempotent however it is run: a batch is claimed only while its stamp is
empty; a run killed half way rolls back and the next one does it; two workers
take disjoint rows (`SKIP LOCKED`), and a batch someone is recording as
entered at that moment is skipped, not waited for. Only batches of active
partnerships are chased: an ended partnership's batches keep their record.
"""

import datetime as dt

from django.db import transaction
from django.template.defaultfilters import pluralize

from accounts.access import Work, intake_enterers, staff_doing
from hmis_portal.core import bulk
from hmis_portal.core.audit import record_events
from hmis_portal.core.dates import deadline_text, moment_text
from hmis_portal.core.outbox import Message, notify_many

from .models import DataPartnership, IntakeBatch, PartnershipPolicy

BATCH = IntakeBatch._meta.db_table
PARTNERSHIP = DataPartnership._meta.db_table


def _claim(*, stamp: str, deadline: str, now: dt.datetime, size: int) -> list[int]:
    """Stamp up to `size` unentered batches of active partnerships whose
    `deadline` passed and whose `stamp` is empty, most late first. Served by
    the partial indexes `intake_overdue_unflagged` and `intake_escalation_pending`."""
    due = bulk.Sql(f"entered_at IS NULL AND {stamp} IS NULL AND {deadline} <= %s "
                   f"AND partnership_id IN (SELECT id FROM {PARTNERSHIP} WHERE status = %s)",
                   (bulk.moment(now), DataPartnership.Status.ACTIVE))
    rows = bulk.claim(BATCH, due=due, order=f"{deadline}, id", size=size,
                      changes=bulk.Sql(f"{stamp} = %s", (bulk.moment(now),)))
    return [row[0] for row in rows]


def _claimed(ids) -> list[IntakeBatch]:
    return list(IntakeBatch.objects.filter(pk__in=ids).select_related("partnership__agency", "partnership__partner")
                .order_by("pk"))


def _what(batch: IntakeBatch) -> str:
    count = batch.intake_count
    return (f"{count} intake{pluralize(count)} {batch.partnership.agency} sent at {moment_text(batch.received_at)}"
            + (f" (reference {batch.reference})" if batch.reference else ""))


def flag_overdue(*, now: dt.datetime, size: int) -> int:
    with transaction.atomic():
        ids = _claim(stamp="overdue_notified_at", deadline="due_at", now=now, size=size)
        if not ids:
            return 0
        batches = _claimed(ids)
        record_events(actor=None, subjects=batches, verb="became overdue", from_state="sent", to_state="overdue")
        people = intake_enterers({batch.partnership.partner_id for batch in batches})
        notify_many(
            Message(recipient=person,
                    subject=f"Overdue: intakes from {batch.partnership.agency} not yet entered into HMIS",
                    body=(f"{_what(batch)} are not yet recorded as entered into HMIS. "
                          f"{deadline_text(batch.due_at)}. Enter them and record the batch as entered."),
                    link=batch.get_absolute_url(), dedupe_key=f"intake-overdue:{batch.pk}")
            for batch in batches for person in people[batch.partnership.partner_id])
    return len(ids)


def escalate(*, now: dt.datetime, size: int, margin: int) -> int:
    with transaction.atomic():
        ids = _claim(stamp="escalated_at", deadline="escalate_at", now=now, size=size)
        if not ids:
            return 0
        batches = _claimed(ids)
        record_events(actor=None, subjects=batches, verb="escalated to CoC staff", from_state="overdue",
                      to_state="escalated")
        staff = list(staff_doing(Work.DATA_PARTNERSHIPS))
        notify_many(
            Message(recipient=person,
                    subject=f"Escalated: {batch.partnership.partner} has not entered intakes from "
                            f"{batch.partnership.agency}",
                    body=(f"{_what(batch)} to {batch.partnership.partner} are still not entered into HMIS, "
                          f"{margin} business day{pluralize(margin)} after the deadline "
                          f"({deadline_text(batch.due_at)})."),
                    link=batch.get_absolute_url(), dedupe_key=f"intake-escalated:{batch.pk}")
            for batch in batches for person in staff)
    return len(ids)


def sweep_entry_deadlines(*, now: dt.datetime) -> dict:
    """One run: a batch of overdue flags, then a batch of escalations."""
    policy = PartnershipPolicy.current()
    flagged = flag_overdue(now=now, size=policy.sweep_batch_size)
    escalated = escalate(now=now, size=policy.sweep_batch_size, margin=policy.escalation_margin_days)
    return {"flagged": flagged, "escalated": escalated}
