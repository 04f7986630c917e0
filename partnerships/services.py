"""Every change to a data partnership and its intake batches (STYLE §2): one
function per change, which locks the row, checks the change is allowed,
saves with update_fields, writes the audit event and queues notifications
through the outbox on commit. Views, the admin and the sweep come through here.

A double submit or a second person at the same moment finds the row already
moved (the lock makes them wait) and gets a message saying so; nothing
changes twice.
"""

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.access import (ED, Work, agency_people, can_end_partnership, can_propose_partnership,
                             can_record_entry, can_send_intakes, intake_enterers, partnership_deciders,
                             partnership_decision_refusal, partnership_directors, require, staff_doing)
from hmis_portal.core import calendar, documents, webhooks
from hmis_portal.core.audit import record_event
from hmis_portal.core.dates import day_text, deadline_text, moment_text
from hmis_portal.core.inputs import single_line_problem
from hmis_portal.core.outbox import notify
from onboarding.selectors import agreement_executed

from .models import MAX_INTAKES, DataPartnership, IntakeBatch, PartnershipPolicy

Status = DataPartnership.Status
MAX_REASON = 2000


def _lock_partnership(pk) -> DataPartnership:
    # The bare row, no joins: PostgreSQL re-checks a joined row after a lock
    # wait against its old version (see referrals.services._lock).
    try:
        return DataPartnership.objects.select_for_update(of=("self",)).get(pk=pk)
    except DataPartnership.DoesNotExist:
        raise ValidationError("This data partnership no longer exists.") from None


def _lock_batch(pk) -> IntakeBatch:
    try:
        return IntakeBatch.objects.select_for_update(of=("self",)).get(pk=pk)
    except IntakeBatch.DoesNotExist:
        raise ValidationError("This intake batch no longer exists.") from None


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"Say why the partnership is {what}."})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": f"Keep the reason under {MAX_REASON} characters."})
    return reason


def entry_deadlines(*, received_at: dt.datetime, policy: PartnershipPolicy | None = None,
                    business: calendar.BusinessCalendar | None = None) -> tuple[dt.datetime, dt.datetime]:
    """(due_at, escalate_at) for a batch received at `received_at`: by the end
    of the policy's Nth business day after the receipt's local date (the
    portal's one business-day rule, SPEC §4), and the escalation margin's
    business days after that."""
    policy = policy or PartnershipPolicy.current()
    business = business or calendar.BusinessCalendar.load()
    due_day = business.add_business_days(calendar.local_date(received_at), policy.entry_business_days)
    escalate_day = business.add_business_days(due_day, policy.escalation_margin_days)
    return calendar.end_of_day(due_day), calendar.end_of_day(escalate_day)


# --- the MOA ---------------------------------------------------------------------------------------

def partnership_propose(*, actor, agency, partner, upload, moa_signed_on: dt.date | None,
                        at: dt.datetime | None = None) -> DataPartnership:
    """The Executive Director of an agency that does not use HMIS uploads the
    signed MOA with a partner agency that participates in HMIS (its
    Organization Agreement is executed and in force)."""
    require(can_propose_partnership(actor, agency),
            "Only the agency's Executive Director proposes a data partnership.")
    at = at or timezone.now()
    if partner is None or partner.pk == agency.pk:
        raise ValidationError({"partner": "Choose another agency as the HMIS data partner."})
    if not agreement_executed(partner):
        raise ValidationError({"partner": f"{partner} has no executed Organization Agreement in force, so it "
                                          "cannot enter data into HMIS for another agency."})
    if moa_signed_on is None:
        raise ValidationError({"moa_signed_on": "Enter the date the MOA was signed."})
    if moa_signed_on > calendar.local_date(at):
        raise ValidationError({"moa_signed_on": "The signing date cannot be in the future."})
    upload.document_kind = documents.validate_document(upload)  # before anything is written
    with documents.atomic():
        existing = DataPartnership.objects.filter(agency=agency, partner=partner,
                                                  status__in=DataPartnership.OPEN_STATUSES).first()
        if existing is not None:
            raise ValidationError(f"{agency} already has a data partnership with {partner} "
                                  f"({existing.get_status_display().lower()}).")
        partnership = DataPartnership(agency=agency, partner=partner, moa_signed_on=moa_signed_on,
                                      proposed_by=actor, proposed_at=at)
        documents.attach(partnership, "moa", upload)
        try:
            with transaction.atomic():
                partnership.save()
        except IntegrityError as exc:
            # Two submits at once: the constraint lets one through.
            raise ValidationError(f"{agency} already has a data partnership with {partner}.") from exc
        record_event(actor=actor, subject=partnership, verb="proposed data partnership", to_state=Status.PROPOSED,
                     reason=f"MOA signed {day_text(moa_signed_on)}", at=at)
        notify(recipients=partnership_deciders(partnership),
               subject=f"Data partnership proposed by {agency}",
               body=(f"{agency} does not use HMIS and asks {partner} to enter its Coordinated Entry intakes into "
                     "HMIS on its behalf. Open the signed MOA, then accept or decline the partnership."),
               link=partnership.get_absolute_url())
    return partnership


def partnership_accept(*, actor, partnership_id, at: dt.datetime | None = None) -> DataPartnership:
    """The partner agency's Executive Director accepts: the partnership is active."""
    at = at or timezone.now()
    with transaction.atomic():
        partnership = _lock_partnership(partnership_id)
        refusal = partnership_decision_refusal(actor, partnership)
        if refusal:
            raise PermissionDenied(refusal)
        _require_proposed(partnership)
        partnership.status, partnership.decided_by, partnership.decided_at = Status.ACTIVE, actor, at
        partnership.save(update_fields=["status", "decided_by", "decided_at"])
        record_event(actor=actor, subject=partnership, verb="accepted data partnership", from_state=Status.PROPOSED,
                     to_state=Status.ACTIVE, at=at)
        policy = PartnershipPolicy.current()
        days = policy.entry_business_days
        # The agency's people send the intakes from now on: each of them is told.
        notify(recipients=agency_people(partnership.agency_id).exclude(pk=actor.pk),
               subject=f"Data partnership with {partnership.partner} accepted",
               body=(f"{partnership.partner} accepted the data partnership. Send your intakes to them as soon as "
                     f"you can and record each batch: it must be entered into HMIS within {days} business "
                     f"day{pluralize(days)}."),
               link=partnership.get_absolute_url())
        _tell_systems(partnership, "partnership.accepted", from_state=Status.PROPOSED)
    return partnership


def partnership_decline(*, actor, partnership_id, reason: str, at: dt.datetime | None = None) -> DataPartnership:
    """The partner agency's Executive Director declines, saying why."""
    at = at or timezone.now()
    reason = _reason(reason, "declined")
    with transaction.atomic():
        partnership = _lock_partnership(partnership_id)
        refusal = partnership_decision_refusal(actor, partnership)
        if refusal:
            raise PermissionDenied(refusal)
        _require_proposed(partnership)
        partnership.status, partnership.decided_by, partnership.decided_at = Status.DECLINED, actor, at
        partnership.decline_reason = reason
        partnership.save(update_fields=["status", "decided_by", "decided_at", "decline_reason"])
        record_event(actor=actor, subject=partnership, verb="declined data partnership", from_state=Status.PROPOSED,
                     to_state=Status.DECLINED, reason=reason, at=at)
        # The agency's Executive Director may propose again, to this partner or another.
        notify(recipients=agency_people(partnership.agency_id, [ED]).exclude(pk=actor.pk),
               subject=f"Data partnership declined by {partnership.partner}",
               body=f"{partnership.partner} declined the data partnership. Reason: {reason}",
               link=partnership.get_absolute_url())
    return partnership


def _require_proposed(partnership):
    if partnership.status == Status.ACTIVE:
        raise ValidationError("This partnership was already accepted; it is active.")
    if partnership.status != Status.PROPOSED:
        raise ValidationError(f"This partnership is {partnership.get_status_display().lower()}; "
                              "it can no longer be accepted or declined.")


def partnership_end(*, actor, partnership_id, reason: str, at: dt.datetime | None = None) -> DataPartnership:
    """Either agency's Executive Director, or CoC staff, end a partnership
    (proposed or active), saying why. Batches already sent keep their record."""
    at = at or timezone.now()
    reason = _reason(reason, "ended")
    with transaction.atomic():
        partnership = _lock_partnership(partnership_id)
        require(can_end_partnership(actor, partnership),
                "Only either agency's Executive Director, or the CoC's implementation team, ends a data partnership.")
        if partnership.status == Status.ENDED:
            raise ValidationError("This partnership was already ended.")
        if partnership.status != Status.ACTIVE and partnership.status != Status.PROPOSED:
            raise ValidationError(f"This partnership is {partnership.get_status_display().lower()}; "
                                  "there is nothing to end.")
        previous = partnership.status
        partnership.status, partnership.ended_by, partnership.ended_at = Status.ENDED, actor, at
        partnership.end_reason = reason
        partnership.save(update_fields=["status", "ended_by", "ended_at", "end_reason"])
        record_event(actor=actor, subject=partnership, verb="ended data partnership", from_state=previous,
                     to_state=Status.ENDED, reason=reason, at=at)
        notify(recipients=partnership_directors(partnership).exclude(pk=actor.pk),
               subject=f"Data partnership ended: {partnership.agency} and {partnership.partner}",
               body=f"The data partnership of {partnership.agency} with {partnership.partner} was ended. "
                    f"Reason: {reason}",
               link=partnership.get_absolute_url())
        _tell_systems(partnership, "partnership.ended", from_state=previous)
    return partnership


def _tell_systems(partnership, event: str, *, from_state: str) -> None:
    webhooks.emit(event=event, subject=partnership, data={
        "state": partnership.status, "from_state": from_state, "agency_id": partnership.agency_id,
        "partner_id": partnership.partner_id, "link": partnership.get_absolute_url()})


# --- intake batches --------------------------------------------------------------------------------

def intake_batch_record(*, actor, partnership_id, received_at: dt.datetime | None, intake_count: int | None,
                        reference: str = "", note: str = "", at: dt.datetime | None = None) -> IntakeBatch:
    """Staff of the agency record that they sent a batch of intakes to their
    HMIS data partner: when, how many, and an optional reference. Its entry
    deadline is stored from the policy's business days."""
    at = at or timezone.now()
    errors = {}
    if received_at is None:
        errors["received_at"] = "Enter when the partner received the intakes."
    elif received_at > at + dt.timedelta(minutes=5):
        errors["received_at"] = "That moment is in the future: record a batch once it is sent."
    if intake_count is None or not 1 <= intake_count <= MAX_INTAKES:
        errors["intake_count"] = f"Enter how many intakes were sent (1 to {MAX_INTAKES:,})."
    if single_line_problem(reference):
        errors["reference"] = single_line_problem(reference)
    if errors:
        raise ValidationError(errors)
    reference, note = (reference or "").strip(), (note or "").strip()
    policy, business = PartnershipPolicy.current(), calendar.BusinessCalendar.load()
    due_at, escalate_at = entry_deadlines(received_at=received_at, policy=policy, business=business)
    with transaction.atomic():
        # Locked so that a partnership ended at this moment takes no new batch.
        partnership = _lock_partnership(partnership_id)
        require(can_send_intakes(actor, partnership),
                "Only the people of the agency that sends the intakes record a batch.")
        if partnership.status != Status.ACTIVE:
            raise ValidationError(f"This partnership is {partnership.get_status_display().lower()}; batches are "
                                  "recorded only while it is active.")
        if calendar.local_date(received_at) < partnership.moa_signed_on:
            raise ValidationError({"received_at": "That is before the MOA was signed "
                                                  f"({day_text(partnership.moa_signed_on)})."})
        batch = IntakeBatch(partnership=partnership, received_at=received_at, intake_count=intake_count,
                            reference=reference, note=note, recorded_by=actor, recorded_at=at, due_at=due_at,
                            escalate_at=escalate_at)
        batch.full_clean(exclude=["partnership", "recorded_by"], validate_constraints=False)
        try:
            with transaction.atomic():
                batch.save()
        except IntegrityError as exc:
            raise ValidationError("A batch sent at that moment is already recorded for this partnership.") from exc
        record_event(actor=actor, subject=batch, verb="sent intakes to the partner", to_state="sent",
                     reason=f"{intake_count} intake{pluralize(intake_count)}; {deadline_text(due_at)}", at=at)
        notify(recipients=intake_enterers([partnership.partner_id])[partnership.partner_id],
               subject=f"{intake_count} intake{pluralize(intake_count)} from {partnership.agency} to enter into HMIS",
               body=(f"{partnership.agency} sent {intake_count} Coordinated Entry intake{pluralize(intake_count)} "
                     f"at {moment_text(received_at)}. Enter them into HMIS and record the batch as entered. "
                     f"{deadline_text(due_at)}."),
               link=partnership.get_absolute_url())
    return batch


def intake_batch_record_entry(*, actor, batch_id, entered_at: dt.datetime | None,
                              at: dt.datetime | None = None) -> IntakeBatch:
    """The partner's staff record the date and time the batch was entered into HMIS."""
    at = at or timezone.now()
    if entered_at is None:
        raise ValidationError({"entered_at": "Enter when the intakes were entered into HMIS."})
    if entered_at > at + dt.timedelta(minutes=5):
        raise ValidationError({"entered_at": "That moment is in the future."})
    with transaction.atomic():
        batch = _lock_batch(batch_id)
        partnership = DataPartnership.objects.get(pk=batch.partnership_id)
        require(can_record_entry(actor, partnership),
                "Only the people of the HMIS data partner record a batch as entered.")
        if batch.entered_at is not None:
            raise ValidationError(f"This batch was already recorded as entered into HMIS at "
                                  f"{moment_text(batch.entered_at)}.")
        if entered_at < batch.received_at:
            raise ValidationError({"entered_at": "The intakes cannot have been entered before the partner received "
                                                 f"them ({moment_text(batch.received_at)})."})
        batch.entered_at, batch.entered_recorded_by, batch.entered_recorded_at = entered_at, actor, at
        batch.entered_on_time = entered_at < batch.due_at
        batch.save(update_fields=["entered_at", "entered_recorded_by", "entered_recorded_at", "entered_on_time"])
        record_event(actor=actor, subject=batch, verb="entered intakes into HMIS", from_state="sent",
                     to_state="entered", reason="On time" if batch.entered_on_time else "Late", at=at)
        if batch.escalated_at is not None:
            # CoC staff were told it was late: tell them it is done.
            notify(recipients=staff_doing(Work.DATA_PARTNERSHIPS),
                   subject=f"Overdue intakes entered: {partnership.partner}",
                   body=f"{partnership.partner} recorded the overdue batch from {partnership.agency} as entered "
                        f"into HMIS at {moment_text(entered_at)}.",
                   link=partnership.get_absolute_url())
    return batch


# --- the entry-deadline sweep -----------------------------------------------------------------------

def sweep_entry_deadlines(*, now: dt.datetime) -> dict:
    """Flag overdue batches to the partner agency's people and escalate them
    to CoC staff: set-based, bounded, idempotent (see `partnerships.sweep`)."""
    from .sweep import sweep_entry_deadlines as run

    return run(now=now)
