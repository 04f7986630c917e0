"""The timeliness sweep, set-based (STYLE §5).

Each run handles at most `sweep_batch_size` referrals that became overdue
(the provider is alerted) and as many that reached the escalation margin (the
CES team is alerted and, where the status names a no-response status, the
referral is moved there). Each of the two batches is one transaction:

1. claim: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
   RETURNING` stamps the batch and says which referrals it holds;
2. the audit events, the transitions of the policy's move and the outbox rows
   are written with `INSERT … SELECT` over the claimed ids (outbox rows
   `ON CONFLICT (dedupe_key) DO NOTHING`), and the move is one `UPDATE` per
   (status, no-response status) pair;
3. commit, then the new messages go to the workers in one task.

A run can be split into chunks that several workers take at once
(`referrals.tasks.referral_timeliness_sweep` queues them as a group): `plan`
picks the referrals one run would take (the `sweep_batch_size` most late of
each kind) and splits them by ranges of referral id, so a referral's overdue
alert and its escalation are in the same chunk, which does them in that
order, as one run does; each chunk claims its own referrals (`ids`) and
re-checks that they are still due. The chunks together write the same rows
as one run.

Idempotent however it is run: a referral is claimed only while its stamp is
empty, and the outbox's dedupe keys (the same as the per-referral sweep
wrote) keep a message from being queued twice. A run killed half way rolls
its batch back and the next run does it. Two workers at once take disjoint
batches (`SKIP LOCKED`), and a referral someone is moving at that moment is
skipped, not waited for: the next run sees it as it is then.

The statements are the same on PostgreSQL (measured in
`benchmarks/referrals.py`) and SQLite ≥ 3.35 (RETURNING, ON CONFLICT), except
two expressions: a timestamp as Python's isoformat(), and days between two
timestamps.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core import calendar, outbox
from onboarding.models import Program

from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition

REFERRAL = Referral._meta.db_table
PROGRAM = Program._meta.db_table
STATUS = NeedStatus._meta.db_table
EVENTS = "core_auditevent"
OUTBOX = "core_notification"
TRANSITIONS = ReferralTransition._meta.db_table


def _db(value):
    """A datetime as the database takes it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def _iso(column: str) -> str:
    """SQL for Python's `isoformat()` of a stored (UTC) timestamp: the
    outbox's dedupe keys carry it, as the per-referral sweep wrote them."""
    if connection.vendor == "postgresql":
        return (f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
                f"CASE WHEN extract(microseconds FROM {column})::bigint %% 1000000 <> 0 "
                f"THEN to_char({column} AT TIME ZONE 'UTC', '.US') ELSE '' END || '+00:00'")
    # SQLite stores UTC as isoformat(" ") without an offset.
    return f"REPLACE({column}, ' ', 'T') || '+00:00'"


def _days_since(column: str) -> str:
    """SQL for round((%s - column) in days, 3); the moment is a parameter."""
    if connection.vendor == "postgresql":
        return f"ROUND(CAST(EXTRACT(EPOCH FROM (%s - {column})) / 86400 AS NUMERIC), 3)"
    return f"ROUND(julianday(%s) - julianday({column}), 3)"


def _in(ids) -> tuple[str, list]:
    return ", ".join(["%s"] * len(ids)), list(ids)


def _values(rows) -> tuple[str, list]:
    """A VALUES list (columns column1, column2, … on both databases)."""
    width = len(rows[0])
    one = "(" + ", ".join(["%s"] * width) + ")"
    return "(VALUES " + ", ".join([one] * len(rows)) + ")", [value for row in rows for value in row]


def _execute(sql, params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@dataclass
class _Claimed:
    id: int
    program_id: int
    status_id: int


class TimelinessSweep:
    """One run of the sweep as of `now`. What every batch needs is read once
    per run: the need statuses, the programs' names and agencies, who to
    alert, the link to a referral."""

    def __init__(self, *, now: dt.datetime, policy: ReferralPolicy | None = None):
        self.now = now
        self.policy = policy or ReferralPolicy.current()
        self.statuses = {s.pk: s for s in NeedStatus.objects.all()}
        self.content_type = ContentType.objects.get_for_model(Referral, for_concrete_model=False).pk
        # "/referrals/<pk>/", built once: the id goes in between in SQL.
        marker = "987654321"
        self.link_prefix, self.link_suffix = reverse("referrals:detail", args=[int(marker)]).split(marker)
        self.base = settings.PORTAL_BASE_URL.rstrip("/")
        self._programs: dict[int, Program] = {}
        self._provider_staff: dict[int, list] = {}
        self._ces_team: list | None = None
        self._business = None

    # --- what is read once per run --------------------------------------------

    def programs(self, ids) -> dict[int, Program]:
        missing = set(ids) - set(self._programs)
        if missing:
            for program in Program.objects.filter(pk__in=missing).select_related("organization"):
                self._programs[program.pk] = program
        return self._programs

    def provider_staff(self, organization_ids) -> list[tuple]:
        """(organization id, user id, email) of each agency's active people,
        one per address (as `notify` sends)."""
        from .services import provider_staff_of

        missing = set(organization_ids) - set(self._provider_staff)
        if missing:
            for organization_id in missing:
                self._provider_staff[organization_id] = []
            for organization_id, user_id, email in provider_staff_of(missing):
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
        from .services import ces_team_members

        if self._ces_team is None:
            seen, self._ces_team = set(), []
            for user_id, email in ces_team_members().order_by("pk").values_list("pk", "email"):
                if email and email not in seen:
                    seen.add(email)
                    self._ces_team.append((0, user_id, email))
        return self._ces_team

    def business(self):
        if self._business is None:
            self._business = calendar.BusinessCalendar.load()
        return self._business

    # --- one batch of each kind -----------------------------------------------

    def claim(self, *, stamp: str, deadline: str, size: int, ids: list[int] | None = None) -> list[_Claimed]:
        """Stamp up to `size` open referrals whose `deadline` passed and whose
        `stamp` is empty, most late first, and return them.

        `SKIP LOCKED` (PostgreSQL): a referral someone is changing right now
        is left for the next run rather than waited for, and two workers
        take disjoint batches. The sweep never waits for a lock, so the order
        it locks in cannot deadlock. The partial indexes
        `referral_overdue_unnotified` and `referral_escalation_pending` serve
        the selection. On SQLite a writer has the whole database. `ids`: a
        chunk's referrals (see `plan`), the only ones it may take."""
        skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
        among, among_params = "", []
        if ids is not None:
            if not ids:
                return []
            marks, among_params = _in(ids)
            among = f"AND id IN ({marks}) "
        rows = _execute(
            f"UPDATE {REFERRAL} SET {stamp} = %s WHERE id IN ("
            f"SELECT id FROM {REFERRAL} WHERE is_open AND {stamp} IS NULL AND {deadline} <= %s {among}"
            f"ORDER BY {deadline}, id LIMIT %s{skip_locked}) "
            f"RETURNING id, program_id, status_id",
            [_db(self.now), _db(self.now), *among_params, size])
        return sorted((_Claimed(*row) for row in rows), key=lambda c: c.id)

    def overdue(self, size: int, ids: list[int] | None = None) -> int:
        with transaction.atomic():
            claimed = self.claim(stamp="overdue_notified_at", deadline="due_at", size=size, ids=ids)
            if not claimed:
                return 0
            ids = [c.id for c in claimed]
            _insert_events(self, ids, verb="became overdue")
            programs = self.programs({c.program_id for c in claimed})
            texts = []
            for program_id, status_id in sorted({(c.program_id, c.status_id) for c in claimed}):
                program, status = programs[program_id], self.statuses[status_id]
                texts.append((program_id, status_id, program.organization_id,
                              f"Overdue CES referral: {program.name}",
                              f"A referral to {program.name} has been in “{status}” past its timeliness standard "
                              f"({status.standard_label().lower()}). Update its need status."))
            recipients = self.provider_staff(sorted({programs[c.program_id].organization_id for c in claimed}))
            new = _insert_notifications(self, ids, texts, recipients, key="referral-overdue")
            _deliver_after_commit(new)
        return len(claimed)

    def escalate(self, size: int, ids: list[int] | None = None) -> tuple[int, int]:
        margin = self.policy.escalation_margin_days
        with transaction.atomic():
            claimed = self.claim(stamp="escalated_at", deadline="escalate_at", size=size, ids=ids)
            if not claimed:
                return 0, 0
            ids = [c.id for c in claimed]
            _insert_events(self, ids, verb="escalated to the CES team")
            programs = self.programs({c.program_id for c in claimed})
            texts = []
            for program_id, status_id in sorted({(c.program_id, c.status_id) for c in claimed}):
                status = self.statuses[status_id]
                move_to = self.statuses.get(status.no_response_status_id)
                texts.append((program_id, status_id, 0,
                              f"Escalated: referral {{id}} overdue at {programs[program_id]}",
                              f"The referral has been in “{status}” {margin} business day{pluralize(margin)} past its standard."
                              + (f" It was moved to “{move_to}”; re-refer the client." if move_to else "")))
            new = _insert_notifications(self, ids, texts, self.ces_team(), key="referral-escalated")
            moved = 0
            by_status = {}
            for c in claimed:
                by_status.setdefault(c.status_id, []).append(c)
            for status_id, group in sorted(by_status.items()):
                move_to = self.statuses.get(self.statuses[status_id].no_response_status_id)
                if move_to is not None:
                    new += self.move(group, self.statuses[status_id], move_to)
                    moved += len(group)
            _deliver_after_commit(new)
        return len(claimed), moved

    def move(self, group: list[_Claimed], status: NeedStatus, move_to: NeedStatus) -> list[int]:
        """The policy's move for referrals whose provider did not respond: the
        transition, the audit event, the provider's message, then the new
        status and its deadlines, all set-based."""
        ids = [c.id for c in group]
        note = (f"The provider did not respond within the standard for “{status}” and the "
                f"escalation margin.")
        marks, params = _in(ids)
        _execute(
            f"INSERT INTO {TRANSITIONS} (referral_id, from_status_id, to_status_id, actor_id, made_at, note, "
            f"from_due_at, within_standard, days_in_status) "
            f"SELECT r.id, r.status_id, %s, NULL, %s, %s, r.due_at, "
            f"CASE WHEN r.due_at IS NULL THEN NULL WHEN r.due_at > %s THEN TRUE ELSE FALSE END, "
            f"{_days_since('r.status_entered_at')} FROM {REFERRAL} r WHERE r.id IN ({marks})",
            [move_to.pk, _db(self.now), note, _db(self.now), _db(self.now), *params])
        _insert_events(self, ids, verb="changed need status", from_status=True, to_state=move_to.name,
                       reason=note)
        programs = self.programs({c.program_id for c in group})
        texts = [(program_id, status.pk, programs[program_id].organization_id,
                  f"Referral returned to the CES team: {programs[program_id].name}",
                  f"The referral was not updated in time and is now “{move_to}”.")
                 for program_id in sorted({c.program_id for c in group})]
        recipients = self.provider_staff(sorted({programs[c.program_id].organization_id for c in group}))
        new = _insert_notifications(self, ids, texts, recipients, key="referral-moved")
        self._enter(ids, move_to)
        return new

    def _enter(self, ids, move_to: NeedStatus) -> None:
        """The new status and its stored deadlines (as `_enter_status`)."""
        from .services import deadlines

        fields = {"status": move_to, "status_entered_at": self.now, "is_open": not move_to.is_final,
                  "overdue_notified_at": None, "escalated_at": None,
                  "closed_at": self.now if move_to.is_final else None, "version": F("version") + 1}
        if move_to.returns_to_matching:
            fields["awaiting_rereferral"] = True
        counted_from_referral = (move_to.standard_days is not None and not move_to.is_final
                                 and move_to.counted_from == NeedStatus.CountedFrom.REFERRAL_DATE)
        if not counted_from_referral:
            due_at, escalate_at = deadlines(move_to, entered_at=self.now, referred_at=self.now,
                                            policy=self.policy, business=self.business())
            Referral.objects.filter(pk__in=ids).update(due_at=due_at, escalate_at=escalate_at, **fields)
            return
        # Deadlines counted from each referral's date: one update per date.
        by_deadlines = {}
        for pk, referred_at in Referral.objects.filter(pk__in=ids).values_list("pk", "referred_at"):
            key = deadlines(move_to, entered_at=self.now, referred_at=referred_at, policy=self.policy,
                            business=self.business())
            by_deadlines.setdefault(key, []).append(pk)
        for (due_at, escalate_at), pks in by_deadlines.items():
            Referral.objects.filter(pk__in=pks).update(due_at=due_at, escalate_at=escalate_at, **fields)


def _insert_events(sweep: TimelinessSweep, ids, *, verb: str, from_status: bool = False, to_state: str | None = None,
                   reason: str = "") -> None:
    """One audit event per referral (as `record_event(actor=None, …)`),
    with the referral's own status names."""
    marks, params = _in(ids)
    _execute(
        f"INSERT INTO {EVENTS} (actor_id, verb, content_type_id, object_id, object_repr, from_state, to_state, "
        f"reason, data, created_at) "
        f"SELECT NULL, %s, %s, CAST(r.id AS TEXT), "
        f"SUBSTR('Referral ' || r.id || ' of client ' || r.hmis_client_id || ' to ' || p.name, 1, 200), "
        f"{'s.name' if from_status else chr(39) * 2}, {'%s' if to_state is not None else 's.name'}, %s, '{{}}', %s "
        f"FROM {REFERRAL} r JOIN {PROGRAM} p ON p.id = r.program_id JOIN {STATUS} s ON s.id = r.status_id "
        f"WHERE r.id IN ({marks})",
        [verb, sweep.content_type, *([to_state] if to_state is not None else []), reason, _db(timezone.now()),
         *params])


def _insert_notifications(sweep: TimelinessSweep, ids, texts, recipients, *, key: str) -> list[int]:
    """One outbox row per referral and recipient (as `notify(…, dedupe_key=)`).

    `texts`: (program id, status id, agency id — 0 for all of `recipients` —,
    subject, body); a subject may hold `{id}` for the referral's id.
    `recipients`: (agency id or 0, user id, email). A key already in the
    outbox (an earlier run, another worker) is skipped. Returns the new rows'
    ids."""
    if not ids or not texts or not recipients:
        return []
    marks, id_params = _in(ids)
    text_rows = []
    for program_id, status_id, organization_id, subject, body in texts:
        head, has_id, tail = subject.partition("{id}")
        text_rows.append((program_id, status_id, organization_id, head, 1 if has_id else 0, tail, body))
    text_table, text_params = _values(text_rows)
    people, people_params = _values(recipients)
    link = "%s || r.id || %s"
    stamp = _db(timezone.now())
    return [row[0] for row in _execute(
        f"INSERT INTO {OUTBOX} (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts, "
        f"next_attempt_at, claimed_at, last_error, created_at, sent_at) "
        f"SELECT u.column2, u.column3, "
        f"SUBSTR(t.column4 || CASE WHEN t.column5 = 1 THEN r.id || t.column6 ELSE '' END, 1, 200), "
        f"t.column7 || %s || {link}, {link}, "
        f"SUBSTR(%s || r.id || ':' || {_iso('r.status_entered_at')} || ':' || u.column3, 1, 200), "
        f"'pending', 0, %s, NULL, '', %s, NULL "
        f"FROM {REFERRAL} r JOIN {text_table} t ON t.column1 = r.program_id AND t.column2 = r.status_id "
        f"JOIN {people} u ON u.column1 = t.column3 "
        f"WHERE r.id IN ({marks}) "
        f"ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        ["\n\n" + sweep.base, sweep.link_prefix, sweep.link_suffix, sweep.link_prefix, sweep.link_suffix,
         f"{key}:", stamp, stamp, *text_params, *people_params, *id_params])]


def _deliver_after_commit(ids) -> None:
    if ids:
        outbox.deliver_after_commit(ids)


def sweep_timeliness(*, now: dt.datetime, overdue_ids: list[int] | None = None,
                     escalation_ids: list[int] | None = None) -> dict:
    """One run: a batch of overdue alerts, then a batch of escalations. With
    ids (a chunk of `plan`): only those referrals, each if still due."""
    run = TimelinessSweep(now=now)
    size = run.policy.sweep_batch_size
    overdue = run.overdue(size, overdue_ids)
    escalated, moved = run.escalate(size, escalation_ids)
    return {"overdue": overdue, "escalated": escalated, "moved": moved}


def _due(stamp: str, deadline: str, now: dt.datetime, size: int) -> list[int]:
    """The referrals a run's claim of this kind would take (read, not locked)."""
    return [row[0] for row in _execute(
        f"SELECT id FROM {REFERRAL} WHERE is_open AND {stamp} IS NULL AND {deadline} <= %s "
        f"ORDER BY {deadline}, id LIMIT %s", [_db(now), size])]


def plan(*, now: dt.datetime, parts: int) -> list[tuple[list[int], list[int]]]:
    """The referrals one run would act on, split into up to `parts` chunks of
    (overdue ids, escalation ids) over ranges of referral id: a referral
    whose alert and escalation are both due has both in one chunk."""
    size = ReferralPolicy.current().sweep_batch_size
    overdue = _due("overdue_notified_at", "due_at", now, size)
    escalation = _due("escalated_at", "escalate_at", now, size)
    ids = sorted(set(overdue) | set(escalation))
    if not ids:
        return []
    width = -(-len(ids) // max(1, parts))
    chunks = []
    for start in range(0, len(ids), width):
        part = set(ids[start:start + width])
        chunks.append(([pk for pk in overdue if pk in part], [pk for pk in escalation if pk in part]))
    return chunks

