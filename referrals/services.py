"""Every change to a referral (STYLE §2): one function per change, which locks
the row, checks the change is allowed, writes the referral's transition and
the audit event, and queues notifications through the outbox on commit.

Views, the admin and the timeliness sweep all come through here.
"""

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.access import (Work, can_match, can_record_ce_enrollment, can_work_referral, referral_workers,
                             staff_doing)
from hmis_portal.core import bulk, calendar, outbox, webhooks
from hmis_portal.core.audit import record_event
from hmis_portal.core.dates import day_text
from hmis_portal.core.inputs import check_single_line
from hmis_portal.core.bulk import Sql
from hmis_portal.core.outbox import notify
from hmis_portal.core.site import portal_base
from onboarding.models import Program
from onboarding.selectors import referral_refusal

from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition, validate_ce_enrollment_id

STATUS_FIELDS = ["status", "status_entered_at", "is_open", "due_at", "escalate_at", "overdue_notified_at",
                 "escalated_at", "closed_at", "enrollment_date", "awaiting_rereferral", "version"]


# --- who is who (the rules are accounts.access's) ----------------------------

def provider_staff(*, organization_id):
    """Who at the provider agency is told of its referrals (the same people
    who may open them)."""
    return get_user_model().objects.filter(
        pk__in=[user_id for _, user_id, _ in referral_workers([organization_id])]).order_by("pk")


def provider_staff_of(*, organization_ids):
    """(agency id, user id, email) of everyone told of these agencies'
    referrals: `provider_staff` for a batch of agencies."""
    return referral_workers(organization_ids)


def ces_team_members():
    return staff_doing(Work.REFERRALS)


# --- timeliness ---------------------------------------------------------------

def deadlines(*, status: NeedStatus, entered_at: dt.datetime, referred_at: dt.datetime,
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


class Reads:
    """What moving referrals reads once, however many are moved: the policy,
    the business calendar, the programs' names and agencies, who to tell, the
    link to a referral. One per request, or one per run of the sweep."""

    def __init__(self, *, policy: ReferralPolicy | None = None, business: calendar.BusinessCalendar | None = None):
        self.policy = policy or ReferralPolicy.current()
        self._business = business
        self.content_type = ContentType.objects.get_for_model(Referral, for_concrete_model=False).pk
        # "/referrals/<pk>/", built once: the id goes in between in SQL.
        marker = "987654321"
        self.link_prefix, self.link_suffix = reverse("referrals:detail", args=[int(marker)]).split(marker)
        self.base = portal_base()
        self._programs: dict[int, Program] = {}
        self._provider_staff: dict[int, list] = {}
        self._ces_team: list | None = None

    def business(self) -> calendar.BusinessCalendar:
        if self._business is None:
            self._business = calendar.BusinessCalendar.load()
        return self._business

    def programs(self, ids) -> dict[int, Program]:
        missing = set(ids) - set(self._programs)
        if missing:
            for program in Program.objects.filter(pk__in=missing).select_related("organization"):
                self._programs[program.pk] = program
        return self._programs

    def provider_staff(self, organization_ids) -> list[tuple]:
        """(agency id, user id, email) of each agency's people told of its
        referrals, one per address (as `notify` sends)."""
        missing = set(organization_ids) - set(self._provider_staff)
        if missing:
            for organization_id in missing:
                self._provider_staff[organization_id] = []
            for organization_id, user_id, email in provider_staff_of(organization_ids=missing):
                self._provider_staff[organization_id].append((user_id, email))
        rows = []
        for organization_id in organization_ids:
            seen = set()
            for user_id, email in self._provider_staff[organization_id]:
                if email and email not in seen:
                    seen.add(email)
                    rows.append((organization_id, user_id, email))
        return rows

    def ces_team(self) -> list[tuple]:
        """(0, user id, email) of the CES team, one per address."""
        if self._ces_team is None:
            seen, self._ces_team = set(), []
            for user_id, email in ces_team_members().order_by("pk").values_list("pk", "email"):
                if email and email not in seen:
                    seen.add(email)
                    self._ces_team.append((0, user_id, email))
        return self._ces_team


REFERRAL_REPR = Sql("'Referral ' || r.id || ' of client ' || r.hmis_client_id || ' to ' || p.name")


def _source() -> str:
    """A referral (r) with its program (p) and its need status (s), as it is
    before a change: the FROM clause of the set-based writes."""
    return (f"{Referral._meta.db_table} r JOIN {Program._meta.db_table} p ON p.id = r.program_id "
            f"JOIN {NeedStatus._meta.db_table} s ON s.id = r.status_id")


def record_referral_events(*, ids, verb: str, reads: Reads, actor=None, from_status: bool = False,
                           to_state: str | None = None, reason: str = "") -> int:
    """One audit event per referral (as `record_event`), with the referral's
    own need status: the old one as `from_state` with `from_status`, the
    current one as `to_state` unless `to_state` is given."""
    return bulk.insert_events(
        source=_source(), key="r.id", ids=ids, content_type=reads.content_type, verb=verb,
        object_repr=REFERRAL_REPR, from_state=Sql("s.name") if from_status else "",
        to_state=Sql("s.name") if to_state is None else to_state, reason=reason,
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None)


def tell_systems_about_referrals(*, ids, event: str, reads: Reads, state: str | None = None,
                                 from_status: bool = False) -> int:
    """The webhook `event` of each referral (ids, states and the link only,
    never the client's), one INSERT … SELECT whatever the number: the
    referral's need status as `state` unless `state` is given (a move
    writes it before the referral's row changes), the current one as
    `from_state` with `from_status`."""
    data = [("id", Sql("r.id")), ("state", Sql("s.name") if state is None else state),
            *([("from_state", Sql("s.name"))] if from_status else []),
            ("program_id", Sql("r.program_id")), ("agency_id", Sql("p.organization_id")),
            ("link", webhooks.link_sql(reads.link_prefix, "r.id", reads.link_suffix))]
    return webhooks.emit_many(event=event, source=_source(), key="r.id", ids=list(ids), data=data)


def tell_about_referrals(*, ids, texts, recipients, reads: Reads, key: str | None,
                         messages: list | None = None) -> list[int]:
    """One message per referral and recipient (as `notify`), written in one
    statement, delivered after commit.

    `texts`: (program id, need status id, agency id — 0 for all of
    `recipients` —, subject, body); a subject may hold `{id}` for the
    referral's id. `recipients`: (agency id or 0, user id, email). With
    `key`, each message's dedupe key is `<key>:<referral id>:<status entered
    at>:<email>` (a key already in the outbox is skipped); without, none.
    The new messages go to the workers after commit, or, with `messages`,
    are added to it for the caller to send with its others in one task.
    Returns their ids."""
    ids = list(ids)
    if not ids or not texts or not recipients:
        return []
    text_rows = []
    for program_id, status_id, organization_id, subject, body in texts:
        head, has_id, tail = subject.partition("{id}")
        text_rows.append((program_id, status_id, organization_id, head, 1 if has_id else 0, tail, body))
    text_table, people = bulk.values(text_rows), bulk.values(recipients)
    link = Sql("%s || r.id || %s", (reads.link_prefix, reads.link_suffix))
    # The batch's referrals are read first, by id: joined to the texts
    # directly, the planner may start from them and read every referral of
    # each program named to find the batch's (see `bulk.rows_first`).
    new = bulk.insert_notifications(
        first=bulk.rows_first("r", Referral._meta.db_table, ids,
                              columns=("id", "program_id", "status_id", "status_entered_at")),
        source=Sql(f"r JOIN {text_table.text} t ON t.column1 = r.program_id "
                   f"AND t.column2 = r.status_id JOIN {people.text} u ON u.column1 = t.column3",
                   (*text_table.params, *people.params)),
        where=Sql("1 = 1"), recipient=Sql("u.column2"), email=Sql("u.column3"),
        subject=Sql("t.column4 || CASE WHEN t.column5 = 1 THEN r.id || t.column6 ELSE '' END"),
        body=Sql(f"t.column7 || %s || {link.text}", ("\n\n" + reads.base, *link.params)), link=link,
        dedupe_key=None if key is None else Sql(
            f"%s || r.id || ':' || {bulk.isoformat('r.status_entered_at')} || ':' || u.column3", (f"{key}:",)))
    if messages is None:
        outbox.deliver_after_commit(new)
    else:
        messages.extend(new)
    return new


def need_status_enter(*, referrals, to_status: NeedStatus, actor, at: dt.datetime, note: str,
                      enrollment_date: dt.date | None = None, tell: bool = True, reads: Reads | None = None,
                      messages: list | None = None) -> int:
    """Move referrals into `to_status`: one referral (a `Referral`, which is
    brought up to date) or a set of ids, set-based whatever their number.

    The transition rule, for every way a need status changes (a provider, the
    CES team, the timeliness sweep's move): the transition row (from which
    status, within the standard or not, days in the status), the audit event,
    the messages, then the new status and its stored deadlines, due dates
    counted as `deadlines` says. The caller holds the referrals' locks and
    has checked that the move is allowed.

    Who is told (`tell`): when the schedule moves referrals (`actor` None),
    the provider's people, once per referral and status; when the CES team
    moves one (other than back to matching), the provider's people; when the
    provider closes one or returns the client to matching, the CES team.
    `reads`: what a run has read already; `messages`: as for
    `tell_about_referrals`. Returns how many referrals moved."""
    one = referrals if isinstance(referrals, Referral) else None
    ids = [one.pk] if one is not None else sorted(referrals)
    if not ids:
        return 0
    reads = reads or Reads()
    rows = list(Referral.objects.filter(pk__in=ids).values_list("pk", "program_id", "status_id", "referred_at"))
    marks = bulk.among("r.id", ids)
    days = bulk.days_since("r.status_entered_at", at)
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    bulk.execute(Sql(
        f"INSERT INTO {ReferralTransition._meta.db_table} (referral_id, from_status_id, to_status_id, actor_id, "
        f"made_at, note, from_due_at, within_standard, days_in_status) "
        f"SELECT r.id, r.status_id, %s, %s, %s, %s, r.due_at, "
        f"CASE WHEN r.due_at IS NULL THEN NULL WHEN r.due_at > %s THEN TRUE ELSE FALSE END, {days.text} "
        f"FROM {Referral._meta.db_table} r WHERE {marks.text}",
        (to_status.pk, actor_id, bulk.moment(at), note, bulk.moment(at), *days.params, *marks.params)))
    record_referral_events(ids=ids, verb="changed need status", reads=reads, actor=actor, from_status=True,
                           to_state=to_status.name, reason=note)
    tell_systems_about_referrals(ids=ids, event="referral.changed", reads=reads, state=to_status.name,
                                 from_status=True)
    if tell:
        _tell_entered(ids, rows, to_status, actor=actor, reads=reads, messages=messages)
    fields = {"status": to_status, "status_entered_at": at, "is_open": not to_status.is_final,
              "overdue_notified_at": None, "escalated_at": None,
              "closed_at": at if to_status.is_final else None, "version": F("version") + 1}
    if to_status.returns_to_matching:
        fields["awaiting_rereferral"] = True
    if enrollment_date is not None:
        fields["enrollment_date"] = enrollment_date
    # Deadlines counted from the status are the same for all; from the
    # referral date, one update per date.
    business = None if to_status.is_final or to_status.standard_days is None else reads.business()
    by_deadlines = {}
    for pk, _, _, referred_at in rows:
        by_deadlines.setdefault(deadlines(status=to_status, entered_at=at, referred_at=referred_at, policy=reads.policy,
                                          business=business), []).append(pk)
    for (due_at, escalate_at), pks in by_deadlines.items():
        Referral.objects.filter(pk__in=pks).update(due_at=due_at, escalate_at=escalate_at, **fields)
    if one is not None:
        one.refresh_from_db(fields=STATUS_FIELDS)
        one.status = to_status
    return len(rows)


def _tell_entered(ids, rows, to_status: NeedStatus, *, actor, reads: Reads, messages: list | None) -> None:
    programs = reads.programs({program_id for _, program_id, _, _ in rows})
    pairs = sorted({(program_id, status_id) for _, program_id, status_id, _ in rows})
    agencies = sorted({programs[program_id].organization_id for program_id, _ in pairs})
    if actor is None:
        texts = [(program_id, status_id, programs[program_id].organization_id,
                  f"Referral returned to the CES team: {programs[program_id].name}",
                  f"The referral was not updated in time and is now “{to_status}”.")
                 for program_id, status_id in pairs]
        tell_about_referrals(ids=ids, texts=texts, recipients=reads.provider_staff(agencies), reads=reads, key="referral-moved",
                             messages=messages)
    elif can_match(actor):
        if to_status.returns_to_matching:
            return
        names = dict(NeedStatus.objects.filter(pk__in={s for _, s in pairs}).values_list("pk", "name"))
        texts = [(program_id, status_id, programs[program_id].organization_id,
                  f"CES team set a referral to “{to_status}”",
                  f"The CES team changed a referral to {programs[program_id].name}: {names[status_id]} → "
                  f"{to_status}.")
                 for program_id, status_id in pairs]
        tell_about_referrals(ids=ids, texts=texts, recipients=reads.provider_staff(agencies), reads=reads, key=None,
                             messages=messages)
    elif to_status.returns_to_matching or to_status.is_final:
        texts = [(program_id, status_id, 0, f"Referral {{id}}: {to_status}",
                  f"{programs[program_id]} set a referral to “{to_status}”."
                  + (" The client needs to be re-referred." if to_status.returns_to_matching else ""))
                 for program_id, status_id in pairs]
        tell_about_referrals(ids=ids, texts=texts, recipients=reads.ces_team(), reads=reads, key=None, messages=messages)


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
    check_single_line(hmis_client_id=hmis_client_id, contact_name=contact_name, contact_phone=contact_phone,
                      contact_email=contact_email)
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
        due_at, escalate_at = deadlines(status=initial, entered_at=at, referred_at=at, policy=policy, business=business)
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
            recipients=provider_staff(organization_id=program.organization_id),
            subject=f"New CES referral to {program.name}",
            body=(f"The CES team referred a client to {program.name}. {initial.standard_label()}: "
                  f"open the referral, contact the client and update the need status."),
            link=_link(referral),
        )
        tell_systems_about_referrals(ids=[referral.pk], event="referral.created", reads=Reads(policy=policy))
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
        elif enrollment_date is not None:
            raise ValidationError({"enrollment_date": f"An enrollment date goes with an enrolled status, "
                                                      f"not “{to_status}”."})
        need_status_enter(referrals=referral, to_status=to_status, actor=actor, at=at, note=note,
                          enrollment_date=enrollment_date)
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


def referral_record_ce_enrollment(*, actor, referral_id, ce_enrollment_id: str, expected_version=None) -> Referral:
    """The CES team records the client's Coordinated Entry project enrollment
    ID in the HMIS: HUD's Event.csv reports the referral under it (its
    EnrollmentID) and leaves out a referral without one. Trimmed; at most 32
    characters, none of `< > [ ] { }`. The same ID again changes nothing (a
    second submit of the form), so no stale-page refusal for it."""
    if not can_record_ce_enrollment(actor):
        raise PermissionDenied("Only the CES team records the client's CE enrollment ID.")
    value = (ce_enrollment_id or "").strip()
    if not value:
        raise ValidationError({"ce_enrollment_id": "Enter the client's CE enrollment ID as the HMIS shows it."})
    try:
        validate_ce_enrollment_id(value)
    except ValidationError as error:
        raise ValidationError({"ce_enrollment_id": error.messages}) from None
    with transaction.atomic():
        referral = _lock(referral_id)
        if referral.ce_enrollment_id == value:
            return referral
        _stale_guard(referral, expected_version)
        previous = referral.ce_enrollment_id
        referral.ce_enrollment_id = value
        referral.version += 1
        referral.save(update_fields=["ce_enrollment_id", "version"])
        record_event(actor=actor, subject=referral,
                     verb="corrected CE enrollment ID" if previous else "recorded CE enrollment ID",
                     from_state=previous, to_state=value)
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
            # The CES team hears of it once, as a transfer request (below).
            need_status_enter(referrals=referral, to_status=target, actor=actor, at=at,
                              note=f"Transfer requested: {reason}", tell=False)
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
