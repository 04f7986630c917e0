"""Every change to a referral (STYLE §2): one function per change, which locks
the row, checks the change is allowed, writes the referral's transition and
the audit event, and queues notifications through the outbox on commit.

Views, the admin and the timeliness sweep all come through here.
"""

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.access import Work, can_match, can_work_referral, referral_workers, staff_doing
from hmis_portal.core import calendar
from hmis_portal.core.audit import record_event
from hmis_portal.core.dates import day_text
from hmis_portal.core.outbox import notify
from onboarding.selectors import referral_refusal

from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition

STATUS_FIELDS = ["status", "status_entered_at", "is_open", "due_at", "escalate_at", "overdue_notified_at",
                 "escalated_at", "closed_at", "enrollment_date", "awaiting_rereferral", "version"]


# --- who is who (the rules are accounts.access's) ----------------------------

def provider_staff(organization_id):
    """Who at the provider agency is told of its referrals (the same people
    who may open them)."""
    return get_user_model().objects.filter(
        pk__in=[user_id for _, user_id, _ in referral_workers([organization_id])]).order_by("pk")


def provider_staff_of(organization_ids):
    """(agency id, user id, email) of everyone told of these agencies'
    referrals: `provider_staff` for a batch of agencies."""
    return referral_workers(organization_ids)


def ces_team_members():
    return staff_doing(Work.REFERRALS)


# --- timeliness ---------------------------------------------------------------

def deadlines(status: NeedStatus, *, entered_at: dt.datetime, referred_at: dt.datetime,
              policy: ReferralPolicy, business: calendar.BusinessCalendar) -> tuple:
    """(due_at, escalate_at) for a referral entering `status` at `entered_at`.

    "Within N business days" is by the end of the Nth business day after the
    start's local date (SPEC §4); the CES team is alerted at the end of the
    escalation margin's last business day after that.
    """
    if status.is_final or status.standard_days is None:
        return None, None
    start = entered_at if status.counted_from == NeedStatus.CountedFrom.STATUS_ENTERED else referred_at
    start_date = calendar.local_date(start)
    if status.day_kind == NeedStatus.DayKind.BUSINESS:
        due_date = business.add_business_days(start_date, status.standard_days)
    else:
        due_date = start_date + dt.timedelta(days=status.standard_days)
    escalate_date = business.add_business_days(due_date, policy.escalation_margin_days)
    return calendar.end_of_day(due_date), calendar.end_of_day(escalate_date)


def _stale_guard(referral: Referral, expected_version) -> None:
    if expected_version is None:
        return
    if int(expected_version) != referral.version:
        last = referral.transitions.select_related("actor").order_by("-made_at", "-id").first()
        who = f" by {last.actor_label}" if last else ""
        raise ValidationError(
            f"This referral changed since you opened the page: it is now “{referral.status}”{who}. "
            "Nothing was saved. Review the referral as it is now and try again."
        )


def _lock(referral_id) -> Referral:
    """The referral's own row, locked, as it is after any change that was
    holding the lock.

    No join in the locking statement: when PostgreSQL has waited for another
    transaction's lock, it re-checks the joined rows as they were before that
    change, finds the old status row no longer matching, and returns nothing
    (a Referral.DoesNotExist, a server error for the second of two people
    moving the same referral). Its status and program are read after the
    lock, so callers re-check the state as it is now."""
    return Referral.objects.select_for_update().get(pk=referral_id)


def _enter_status(referral: Referral, status: NeedStatus, *, actor, at: dt.datetime, note: str,
                  policy: ReferralPolicy | None = None,
                  business: calendar.BusinessCalendar | None = None) -> ReferralTransition:
    """Move a locked referral into `status`: the transition row, the stored
    deadlines, the audit event. Callers check that the move is allowed."""
    policy = policy or ReferralPolicy.current()
    business = business or calendar.BusinessCalendar.load()
    previous = referral.status
    transition = ReferralTransition.objects.create(
        referral=referral,
        from_status=previous,
        to_status=status,
        actor=actor if actor is not None and actor.is_authenticated else None,
        made_at=at,
        note=note,
        from_due_at=referral.due_at,
        within_standard=None if referral.due_at is None else at < referral.due_at,
        days_in_status=round((at - referral.status_entered_at).total_seconds() / 86400, 3),
    )
    referral.status = status
    referral.status_entered_at = at
    referral.is_open = not status.is_final
    referral.due_at, referral.escalate_at = deadlines(status, entered_at=at, referred_at=referral.referred_at,
                                                      policy=policy, business=business)
    referral.overdue_notified_at = None
    referral.escalated_at = None
    referral.closed_at = at if status.is_final else None
    if status.returns_to_matching:
        referral.awaiting_rereferral = True
    referral.version += 1
    referral.save(update_fields=STATUS_FIELDS)
    record_event(actor=actor, subject=referral, verb="changed need status", from_state=previous.name,
                 to_state=status.name, reason=note)
    return transition


def _link(referral: Referral) -> str:
    return reverse("referrals:detail", args=[referral.pk])


# --- creating and re-referring ------------------------------------------------

def referral_create(*, actor, program, hmis_client_id: str, contact_name: str, contact_phone: str = "",
                    contact_email: str = "", contact_notes: str = "", rereferred_from: Referral | None = None,
                    at: dt.datetime | None = None) -> Referral:
    """A CES matcher refers a client to a housing provider's program. It starts
    at the initial need status (seed 001: "CES: Matched: Awaiting response by
    Housing Provider")."""
    if actor is not None and not can_match(actor):
        raise PermissionDenied("Only the CES team creates referrals.")
    hmis_client_id = (hmis_client_id or "").strip()
    if not hmis_client_id:
        raise ValidationError({"hmis_client_id": "Enter the client's HMIS client ID."})
    if not (contact_phone or contact_email or contact_notes):
        raise ValidationError("Give the provider at least one way to reach the client: a phone, an email, "
                              "or where and through whom they can be found.")
    refusal = referral_refusal(program)
    if refusal:
        raise ValidationError({"program": refusal})
    initial = NeedStatus.objects.filter(is_initial=True, active=True).first()
    if initial is None:
        raise ValidationError("No need status is marked initial. Ask a CoC system administrator to mark one.")
    at = at or timezone.now()
    policy, business = ReferralPolicy.current(), calendar.BusinessCalendar.load()
    with transaction.atomic():
        existing = Referral.objects.filter(program=program, hmis_client_id=hmis_client_id, is_open=True).first()
        if existing is not None:
            raise ValidationError(
                f"Client {hmis_client_id} already has an open referral to {program.name} "
                f"(referral {existing.pk}, “{existing.status}”). Work that referral instead of making another.")
        due_at, escalate_at = deadlines(initial, entered_at=at, referred_at=at, policy=policy, business=business)
        referral = Referral(
            program=program, hmis_client_id=hmis_client_id, contact_name=contact_name.strip(),
            contact_phone=contact_phone.strip(), contact_email=contact_email.strip(),
            contact_notes=contact_notes.strip(), status=initial, status_entered_at=at, referred_at=at,
            referred_by=actor, is_open=not initial.is_final, due_at=due_at, escalate_at=escalate_at,
            rereferred_from=rereferred_from,
        )
        referral.full_clean(exclude=["status", "program", "referred_by", "rereferred_from"],
                            validate_constraints=False)
        try:
            with transaction.atomic():
                referral.save()
        except IntegrityError as exc:
            # Two matchers submitting at once: the database constraint decides.
            raise ValidationError(
                f"Client {hmis_client_id} already has an open referral to {program.name}.") from exc
        ReferralTransition.objects.create(referral=referral, from_status=None, to_status=initial, actor=actor,
                                          made_at=at, note="Referred by the CES team.")
        record_event(actor=actor, subject=referral, verb="referred", to_state=initial.name,
                     reason=f"Client {hmis_client_id} referred to {program}")
        notify(
            recipients=provider_staff(program.organization_id),
            subject=f"New CES referral to {program.name}",
            body=(f"The CES team referred a client to {program.name}. {initial.standard_label()}: "
                  f"open the referral, contact the client and update the need status."),
            link=_link(referral),
        )
    return referral


def referral_rerefer(*, actor, referral_id, program, note: str = "", expected_version=None, contact=None
                     ) -> Referral:
    """The CES team re-refers a client the provider returned (a status that
    returns to matching, or a transfer request, seed 001) to another program."""
    if not can_match(actor):
        raise PermissionDenied("Only the CES team re-refers clients.")
    with transaction.atomic():
        old = _lock(referral_id)
        _stale_guard(old, expected_version)
        if not old.awaiting_rereferral:
            raise ValidationError("This referral is not waiting for the CES team to re-refer the client.")
        contact = contact or {}
        new = referral_create(
            actor=actor, program=program, hmis_client_id=old.hmis_client_id,
            contact_name=contact.get("contact_name", old.contact_name),
            contact_phone=contact.get("contact_phone", old.contact_phone),
            contact_email=contact.get("contact_email", old.contact_email),
            contact_notes=contact.get("contact_notes", old.contact_notes),
            rereferred_from=old,
        )
        old.awaiting_rereferral = False
        old.version += 1
        old.save(update_fields=["awaiting_rereferral", "version"])
        record_event(actor=actor, subject=old, verb="re-referred", reason=f"To {program}. {note}".strip())
    return new


# --- the provider's and the CES team's changes ---------------------------------

def referral_change_status(*, actor, referral_id, to_status: NeedStatus, note: str = "", expected_version=None,
                           enrollment_date: dt.date | None = None, at: dt.datetime | None = None) -> Referral:
    at = at or timezone.now()
    with transaction.atomic():
        referral = _lock(referral_id)
        _stale_guard(referral, expected_version)
        ces = can_match(actor)
        if not (ces or can_work_referral(actor, referral)):
            raise PermissionDenied("Only the provider's staff and the CES team change this referral's status.")
        current = referral.status
        if current.is_final:
            raise ValidationError(f"This referral is closed (“{current}”); its need status no longer changes.")
        # A retired status is offered to nobody; a referral already in one can still leave it.
        if not current.allowed_next.filter(pk=to_status.pk, active=True).exists():
            raise ValidationError(f"A referral in “{current}” cannot move to “{to_status}”. "
                                  "Choose one of the statuses offered.")
        if to_status.ces_team_only and not ces:
            raise ValidationError(f"Only the CES team sets “{to_status}”.")
        note = (note or "").strip()
        if to_status.requires_reason and not note:
            raise ValidationError({"note": f"Say why the referral is “{to_status}”."})
        if to_status.accepts_client:
            if enrollment_date is None:
                raise ValidationError({"enrollment_date": "Enter the date the client was enrolled."})
            _check_enrollment_date(referral, enrollment_date, at)
            referral.enrollment_date = enrollment_date
        elif enrollment_date is not None:
            raise ValidationError({"enrollment_date": f"An enrollment date goes with an enrolled status, "
                                                      f"not “{to_status}”."})
        _enter_status(referral, to_status, actor=actor, at=at, note=note)
        if ces and not to_status.returns_to_matching:
            notify(recipients=provider_staff(referral.program.organization_id),
                   subject=f"CES team set a referral to “{to_status}”",
                   body=f"The CES team changed a referral to {referral.program.name}: {current} → {to_status}.",
                   link=_link(referral))
        elif not ces and (to_status.returns_to_matching or to_status.is_final):
            notify(recipients=ces_team_members(), subject=f"Referral {referral.pk}: {to_status}",
                   body=f"{referral.program} set a referral to “{to_status}”."
                        + (" The client needs to be re-referred." if to_status.returns_to_matching else ""),
                   link=_link(referral))
    return referral


def _check_enrollment_date(referral: Referral, enrollment_date: dt.date, at: dt.datetime) -> None:
    today = calendar.local_date(at)
    if enrollment_date > today:
        raise ValidationError({"enrollment_date": "The enrollment date cannot be in the future."})
    if enrollment_date < calendar.local_date(referral.referred_at):
        raise ValidationError({"enrollment_date": "The enrollment date cannot be before the referral "
                                                  f"({day_text(referral.referred_at)})."})


def referral_record_move_in(*, actor, referral_id, move_in_date: dt.date, expected_version=None,
                            at: dt.datetime | None = None) -> Referral:
    """Seed 001: "Once the client has been housed, a Housing Move-in Date must
    also be entered." Not before enrollment, not in the future (CoC's dates)."""
    at = at or timezone.now()
    with transaction.atomic():
        referral = _lock(referral_id)
        _stale_guard(referral, expected_version)
        if not can_work_referral(actor, referral):
            raise PermissionDenied("Only the housing provider's staff record the move-in date.")
        if referral.enrollment_date is None:
            raise ValidationError("Record the enrollment first: the move-in date comes after enrollment.")
        if move_in_date < referral.enrollment_date:
            raise ValidationError({"move_in_date": "The housing move-in date cannot be before the enrollment "
                                                   f"date ({day_text(referral.enrollment_date)})."})
        if move_in_date > calendar.local_date(at):
            raise ValidationError({"move_in_date": "The housing move-in date cannot be in the future."})
        if referral.move_in_date == move_in_date:
            return referral
        previous = referral.move_in_date
        referral.move_in_date = move_in_date
        referral.version += 1
        referral.save(update_fields=["move_in_date", "version"])
        record_event(actor=actor, subject=referral, verb="recorded housing move-in date",
                     from_state=str(previous or ""), to_state=str(move_in_date))
    return referral


def referral_request_transfer(*, actor, referral_id, reason: str, expected_version=None,
                              at: dt.datetime | None = None) -> Referral:
    """Seed 001's transfer: the provider names the reason and the referral goes
    back to the CES team, which re-refers the client. An open referral is also
    moved to the status (allowed next) that returns the client to matching."""
    at = at or timezone.now()
    reason = (reason or "").strip()
    with transaction.atomic():
        referral = _lock(referral_id)
        _stale_guard(referral, expected_version)
        if not can_work_referral(actor, referral):
            raise PermissionDenied("Only the housing provider's staff request a transfer.")
        if not reason:
            raise ValidationError({"reason": "Say why the client needs a transfer."})
        if referral.transfer_requested_at is not None:
            raise ValidationError("A transfer was already requested for this referral.")
        if referral.awaiting_rereferral or referral.rereferred:
            raise ValidationError("This referral is already back with the CES team.")
        if referral.is_open:
            target = referral.status.allowed_next.filter(
                active=True, returns_to_matching=True, set_by=NeedStatus.SetBy.HOUSING_PROVIDER).first()
            if target is None:
                raise ValidationError(f"From “{referral.status}” a transfer cannot be requested.")
            _enter_status(referral, target, actor=actor, at=at, note=f"Transfer requested: {reason}")
        elif not referral.status.accepts_client:
            raise ValidationError("This referral is closed; there is no client to transfer.")
        referral.transfer_requested_at = at
        referral.transfer_requested_by = actor
        referral.transfer_reason = reason
        referral.awaiting_rereferral = True
        referral.version += 1
        referral.save(update_fields=["transfer_requested_at", "transfer_requested_by", "transfer_reason",
                                     "awaiting_rereferral", "version"])
        record_event(actor=actor, subject=referral, verb="requested a transfer", reason=reason)
        notify(recipients=ces_team_members(), subject=f"Transfer requested: referral {referral.pk}",
               body=f"{referral.program} asks the CES team to transfer a client. Reason: {reason}",
               link=_link(referral))
    return referral


# --- the timeliness sweep -------------------------------------------------------

def sweep_timeliness(*, now: dt.datetime, overdue_ids: list[int] | None = None,
                     escalation_ids: list[int] | None = None) -> dict:
    """Alert the provider when a referral becomes overdue, the CES team when it
    is overdue by the escalation margin, and, where the status says so, move a
    referral whose provider did not respond (SPEC §4). Set-based, at most
    `sweep_batch_size` of each kind per run; ids: one chunk of a split run.
    See `referrals.sweep`."""
    from .sweep import sweep_timeliness as run

    return run(now=now, overdue_ids=overdue_ids, escalation_ids=escalation_ids)
