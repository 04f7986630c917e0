"""The daily HMIS account sweeps (seed 002, SPEC §3.5 and §4), set-based
like the referral timeliness sweep (STYLE §5).

Each of the three sweeps (reactivated accounts nobody logged in to, accounts
with no login for the inactivity limit, accounts reaching the retraining
limit) works in bounded batches, one transaction each:

1. claim: one `UPDATE … FROM (SELECT … ORDER BY clock, id LIMIT n FOR UPDATE
   SKIP LOCKED)` changes the batch and RETURNs it; the selection reads one of
   HMISAccount's partial indexes in key order;
2. the audit events and the outbox rows are written with `INSERT … SELECT`
   over the claimed ids (outbox rows `ON CONFLICT (dedupe_key) DO NOTHING`):
   the people to tell and their links are read once per run per agency;
3. commit, then the new messages go to the workers in one task.

A run can be split into chunks over ranges of account ids
(`account_ranges`, `run_inactivity_sweep(ids=…)`) that several workers take
at once (`hmis_accounts.tasks.hmis_inactivity_sweep` queues them as a group):
each account is in one range, and what a sweep does to an account depends on
that account's row alone, so the chunks together write the same rows as one
run. A chunk run twice, or by two workers at once, changes nothing the second
time: the claim skips what another holds and re-checks what it locks.

A batch commits whole or not at all, so a sweep killed half-way and run again
finishes the rest and sends nothing twice (the dedupe keys are the ones the
per-account code wrote); a second run finds nothing due. `SKIP LOCKED`: an
account a login import or a reactivation holds right now is left for the
next run rather than waited for, so the sweep cannot deadlock with them.

Days are the CoC's calendar dates: last login (or provisioning, or
reactivation) on local date D → Inactive on the sweep of D+30, retraining on
D+90, whatever the UTC offset did in between.

The statements are the same on PostgreSQL and SQLite ≥ 3.35 (RETURNING,
ON CONFLICT, UPDATE … FROM); SQLite has no row locks (a writer holds the
whole database), so the claim there has no `FOR UPDATE SKIP LOCKED`.
"""

import calendar as month_calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Max, Min
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core import outbox, provisioning
from hmis_portal.core.audit import record_events
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import day_text
from hmis_portal.core.models import AuditEvent, Notification

from accounts.models import Membership, Organization, Persona, User
from hmis_access.models import AccessPolicy, HMISAccount

from .models import ReactivationRequest
from hmis_portal.core.outbox import Message, notify_many

# Each batch of the sweeps is one commit, and a commit waits for its WAL to
# reach the disk: at 5,000 accounts a batch the commits are a small share of
# a run (at 1,000 they were a fifth of it), and a batch's locks are held for
# about a second, which a login import or a reactivation can wait out.
BATCH_SIZE = 5000
# The reminders go through the ORM's notify_many, a batch at a time.
REMINDER_BATCH_SIZE = 1000

Active = HMISAccount.Status.ACTIVE
Inactive = HMISAccount.Status.INACTIVE

ACCOUNTS = HMISAccount._meta.db_table
USERS = User._meta.db_table
EVENTS = AuditEvent._meta.db_table
OUTBOX = Notification._meta.db_table
ASSIGNMENTS = HMISAccount.retraining_courses.through._meta.db_table
HOW_TO = "Ask your agency administrator to request reactivation in the portal."


@dataclass
class SweepResult:
    inactive: int = 0
    inactive_after_reactivation: int = 0
    retraining: int = 0

    def __add__(self, other: "SweepResult") -> "SweepResult":
        return SweepResult(self.inactive + other.inactive,
                           self.inactive_after_reactivation + other.inactive_after_reactivation,
                           self.retraining + other.retraining)

    def summary(self) -> str:
        return (f"{self.inactive} made Inactive (no login), {self.inactive_after_reactivation} made Inactive again "
                f"(no login in time after reactivation), {self.retraining} now need retraining")


def _db(value):
    """A datetime as the database takes it in a raw statement."""
    return connection.ops.adapt_datetimefield_value(value)


def _date(value):
    """A date as the database takes it in a raw statement."""
    return connection.ops.adapt_datefield_value(value)


def _day(value) -> dt.date | None:
    """A date column as a raw cursor returns it (SQLite: text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _in(ids) -> tuple[str, list]:
    return ", ".join(["%s"] * len(ids)), list(ids)


def _values(rows) -> tuple[str, list]:
    """A VALUES list (columns column1, column2, … on both databases)."""
    one = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return "(VALUES " + ", ".join([one] * len(rows)) + ")", [value for row in rows for value in row]


def _execute(sql, params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@dataclass(frozen=True)
class _Claimed:
    id: int
    user_id: int
    organization_id: int
    clock: dt.date | None  # the date the message names (before the claim changed it)


class HMISSweep:
    """One run of the sweeps as of `at`. What every batch needs is read once
    per run: the policy, the content type, the links, and each agency's
    administrators (as they are when the run first meets the agency)."""

    def __init__(self, *, at: dt.datetime, policy: AccessPolicy | None = None, ids: tuple[int, int] | None = None):
        self.at = at
        self.ids = ids  # (first, last) account id of a chunk; None: every account
        self.today = local_date(at)
        self.policy = policy or AccessPolicy.current()
        self.content_type = ContentType.objects.get_for_model(HMISAccount, for_concrete_model=False).pk
        self.base = settings.PORTAL_BASE_URL.rstrip("/")
        self.status_link = reverse("hmis-account-status")
        self._administrators: dict[int, list[tuple]] = {}
        self._course_ids: list[int] | None = None
        self._after: dict[str, tuple] = {}

    # --- what is read once per run --------------------------------------------

    def administrators(self, organization_ids) -> list[tuple]:
        """(agency id, user id, email, link to the agency's HMIS accounts) of
        each active Agency Administrator of these agencies."""
        missing = sorted(set(organization_ids) - set(self._administrators))
        if missing:
            for organization_id in missing:
                self._administrators[organization_id] = []
            found = list(Membership.objects.filter(
                organization_id__in=missing, persona=Persona.AGENCY_ADMINISTRATOR, user__is_active=True,
            ).order_by("organization_id", "user_id").values_list("organization_id", "user_id", "user__email"))
            slugs = dict(Organization.objects.filter(pk__in={row[0] for row in found}).values_list("pk", "slug"))
            links = {pk: reverse("agency-hmis-accounts", kwargs={"slug": slug}) for pk, slug in slugs.items()}
            for organization_id, user_id, email in found:
                if email:
                    self._administrators[organization_id].append(
                        (organization_id, user_id, email, links[organization_id]))
        return [row for organization_id in sorted(set(organization_ids))
                for row in self._administrators[organization_id]]

    def course_ids(self) -> list[int]:
        if self._course_ids is None:
            self._course_ids = list(self.policy.retraining_courses.order_by("pk").values_list("pk", flat=True))
        return self._course_ids

    # --- the three sweeps -----------------------------------------------------

    def run(self, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> SweepResult:
        result = SweepResult()
        result.inactive_after_reactivation = self._in_batches(self.lapsed_after_reactivation, batch_size, max_batches)
        result.inactive = self._in_batches(self.inactive, batch_size, max_batches)
        result.retraining = self._in_batches(self.retraining, batch_size, max_batches)
        return result

    @staticmethod
    def _in_batches(apply, batch_size: int, max_batches: int | None) -> int:
        changed = batches = 0
        while max_batches is None or batches < max_batches:
            with transaction.atomic():
                done = apply(batch_size)
            if not done:
                break
            changed += done
            batches += 1
        return changed

    def claim(self, *, due: str, due_params: list, order: str, clock: str, changes: str, change_params: list,
              size: int) -> list[_Claimed]:
        """Change up to `size` due accounts, earliest clock first, and return
        them with the clock's value before the change."""
        # Keyset: each batch starts after the last one's (clock, id), so it
        # never walks again over index entries the run already claimed (they
        # stay in the partial index, dead, until vacuum). An account skipped
        # because someone held it is left for the next run.
        if self.ids is not None:
            # A chunk: the range is checked on the clock index's entries
            # (id is its second column), so a chunk reads no other chunk's rows.
            due = f"({due}) AND id BETWEEN %s AND %s"
            due_params = [*due_params, *self.ids]
        after = self._after.get(order)
        if after is not None:
            due = f"({due}) AND ({order}, id) > (%s, %s)"
            due_params = [*due_params, _date(after[0]), after[1]]
        select = f"SELECT id, {clock} FROM {ACCOUNTS} WHERE {due} ORDER BY {order}, id LIMIT %s"
        if connection.features.has_select_for_update_skip_locked:
            rows = _execute(
                f"UPDATE {ACCOUNTS} SET {changes} FROM ({select} FOR UPDATE SKIP LOCKED) due (due_id, due_clock) "
                f"WHERE {ACCOUNTS}.id = due.due_id "
                f"RETURNING {ACCOUNTS}.id, {ACCOUNTS}.user_id, {ACCOUNTS}.organization_id, due.due_clock",
                [*change_params, *due_params, size])
        else:
            # SQLite: RETURNING names only the changed table, and a writer
            # holds the whole database, so the selection is read first.
            clocks = dict(_execute(select, [*due_params, size]))
            if not clocks:
                return []
            marks, params = _in(sorted(clocks))
            rows = [(pk, user_id, organization_id, clocks[pk]) for pk, user_id, organization_id in _execute(
                f"UPDATE {ACCOUNTS} SET {changes} WHERE id IN ({marks}) RETURNING id, user_id, organization_id",
                [*change_params, *params])]
        claimed = sorted((_Claimed(pk, user_id, organization_id, _day(day))
                          for pk, user_id, organization_id, day in rows), key=lambda c: c.id)
        if claimed:
            self._after[order] = max((c.clock, c.id) for c in claimed)
        return claimed

    def lapsed_after_reactivation(self, size: int) -> int:
        # Index hmis_reactivation_login_due: (must_log_in_by, id) WHERE active AND must_log_in_by IS NOT NULL.
        claimed = self.claim(
            due="status = %s AND must_log_in_by IS NOT NULL AND must_log_in_by < %s",
            due_params=[Active, _date(self.today)], order="must_log_in_by", clock="must_log_in_by",
            changes=("status = %s, inactive_since = %s, inactive_reason = %s, must_log_in_by = NULL, "
                     "must_log_in_before = NULL"),
            change_params=[Inactive, _db(self.at), HMISAccount.InactiveReason.NO_LOGIN_AFTER_REACTIVATION],
            size=size)
        if claimed:
            self._events(claimed, verb="made inactive", from_state="Active", to_state="Inactive",
                         reason=f"No HMIS login within {self.policy.reactivation_login_hours} hours of reactivation.")
            self._deactivate_in_hmis(claimed)
            self._tell(claimed, key=f"hmis-inactive:{self.today.isoformat()}",
                       subject="HMIS account is now Inactive",
                       body=lambda day: ("The HMIS account ", (
                           f" was reactivated but nobody logged in to HMIS by the end of {day_text(day)}, so it is "
                           f"Inactive again. {HOW_TO}")))
        return len(claimed)

    def inactive(self, size: int) -> int:
        # Index hmis_inactivity_due: (inactivity_counted_from, id) WHERE active AND must_log_in_by IS NULL.
        days = self.policy.inactive_after_days
        claimed = self.claim(
            due="status = %s AND must_log_in_by IS NULL AND inactivity_counted_from <= %s",
            due_params=[Active, _date(self.today - dt.timedelta(days=days))],
            order="inactivity_counted_from", clock="inactivity_counted_from",
            changes=("status = %s, inactive_since = %s, inactive_reason = %s, must_log_in_by = NULL, "
                     "must_log_in_before = NULL"),
            change_params=[Inactive, _db(self.at), HMISAccount.InactiveReason.NO_LOGIN], size=size)
        if claimed:
            self._events(claimed, verb="made inactive", from_state="Active", to_state="Inactive",
                         reason=f"No HMIS login for {days} days.")
            self._deactivate_in_hmis(claimed)
            self._tell(claimed, key=f"hmis-inactive:{self.today.isoformat()}",
                       subject="HMIS account is now Inactive",
                       body=lambda day: ("The HMIS account ", (
                           f" has had no HMIS login since {day_text(day)}, {days} days, so it is now Inactive "
                           f"and cannot be used. {HOW_TO}")))
        return len(claimed)

    def retraining(self, size: int) -> int:
        # Index hmis_retraining_due: (retraining_counted_from, id) WHERE NOT retraining_required.
        days = self.policy.retraining_after_days
        claimed = self.claim(
            due="NOT retraining_required AND retraining_counted_from <= %s",
            due_params=[_date(self.today - dt.timedelta(days=days))],
            order="retraining_counted_from", clock="retraining_counted_from",
            changes="retraining_required = %s, retraining_required_on = %s",
            change_params=[True, _date(self.today)], size=size)
        if not claimed:
            return 0
        ids = [c.id for c in claimed]
        self._events(claimed, verb="retraining required", from_state="", to_state="Retraining required",
                     reason=f"No HMIS login for {days} days: {self.policy.retraining_title} must be retaken "
                            "before reactivation.")
        # A request that was ready now has to wait for the retraining too (rare: the ORM).
        waiting = list(ReactivationRequest.objects.select_for_update().filter(
            account_id__in=ids, status=ReactivationRequest.Status.READY).order_by("pk"))
        if waiting:
            ReactivationRequest.objects.filter(pk__in=[r.pk for r in waiting]).update(
                status=ReactivationRequest.Status.WAITING_FOR_RETRAINING, ready_at=None, provisioning_due_at=None)
            record_events(actor=None, subjects=waiting, verb="retraining required",
                          from_state=ReactivationRequest.Status.READY.label,
                          to_state=ReactivationRequest.Status.WAITING_FOR_RETRAINING.label)
        self._assign_retraining(ids)
        self._tell(claimed, key=f"hmis-retraining:{self.today.isoformat()}", subject="HMIS retraining required",
                   body=lambda day: ("The HMIS account ", (
                       f" has had no HMIS login for {days} days. Before it can be reactivated, "
                       f"{self.policy.retraining_title} must be retaken.")), by_clock=False)
        return len(claimed)

    # --- set-based writes -----------------------------------------------------

    def _deactivate_in_hmis(self, claimed: list[_Claimed]) -> None:
        """`active=false` in the HMIS for each account made Inactive: one
        INSERT … SELECT into the provisioning outbox in this batch's
        transaction, and no call to the HMIS (a worker delivers after commit)."""
        provisioning.provision_many(HMISAccount.objects.filter(pk__in=[c.id for c in claimed]), active=False,
                                    dedupe_prefix=f"inactive:{self.today.isoformat()}:")

    def _events(self, claimed: list[_Claimed], *, verb: str, from_state: str, to_state: str, reason: str) -> None:
        """One audit event per account (as `record_events(actor=None, …)`)."""
        marks, params = _in([c.id for c in claimed])
        _execute(
            f"INSERT INTO {EVENTS} (actor_id, verb, content_type_id, object_id, object_repr, from_state, to_state, "
            f"reason, data, created_at) "
            f"SELECT NULL, %s, %s, CAST(a.id AS TEXT), SUBSTR(a.hmis_username, 1, 200), %s, %s, %s, '{{}}', %s "
            f"FROM {ACCOUNTS} a WHERE a.id IN ({marks}) ORDER BY a.id",
            [verb, self.content_type, from_state, to_state, reason, _db(timezone.now()), *params])

    def _assign_retraining(self, ids: list[int]) -> None:
        """The policy's retraining courses for each account: one delete, one insert."""
        marks, params = _in(ids)
        _execute(f"DELETE FROM {ASSIGNMENTS} WHERE hmisaccount_id IN ({marks})", params)
        courses = self.course_ids()
        if courses:
            table, course_params = _values([(pk,) for pk in courses])
            _execute(f"INSERT INTO {ASSIGNMENTS} (hmisaccount_id, course_id) "
                     f"SELECT a.id, c.column1 FROM {ACCOUNTS} a CROSS JOIN {table} c "
                     f"WHERE a.id IN ({marks}) ORDER BY a.id, c.column1 ON CONFLICT DO NOTHING",
                     [*course_params, *params])

    def _tell(self, claimed: list[_Claimed], *, key: str, subject: str, body, by_clock: bool = True) -> None:
        """The account's user and its agency's administrators, one outbox row
        each (as `notify_many`: key `<key>:<account id>:<email>`). `body(day)`
        gives the text before and after the username; accounts are grouped by
        the date it names (a daily run: one group)."""
        groups = defaultdict(list)
        for c in claimed:
            groups[c.clock if by_clock else None].append(c)
        new = []
        stamp = _db(timezone.now())
        for day, group in sorted(groups.items(), key=lambda item: item[0] or dt.date.min):
            head, tail = body(day)
            marks, params = _in([c.id for c in group])
            # The users by their ids too: joined on user_id alone, the planner
            # reads the whole user table for every batch (a hash join).
            user_marks, user_params = _in(sorted({c.user_id for c in group}))
            common = ["pending", 0, stamp, "", stamp]
            new += [row[0] for row in _execute(
                f"INSERT INTO {OUTBOX} (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts, "
                f"next_attempt_at, claimed_at, last_error, created_at, sent_at) "
                f"SELECT u.id, u.email, %s, %s || a.hmis_username || %s, %s, "
                f"SUBSTR(%s || a.id || ':' || u.email, 1, 200), %s, %s, %s, NULL, %s, %s, NULL "
                f"FROM {ACCOUNTS} a JOIN {USERS} u ON u.id = a.user_id "
                f"WHERE a.id IN ({marks}) AND u.id IN ({user_marks}) AND u.email <> '' ORDER BY a.id "
                f"ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                [subject[:200], head, f"{tail}\n\n{self.base}{self.status_link}", self.status_link, f"{key}:",
                 *common, *params, *user_params])]
            administrators = self.administrators({c.organization_id for c in group})
            if not administrators:
                continue
            people, people_params = _values(administrators)
            new += [row[0] for row in _execute(
                f"INSERT INTO {OUTBOX} (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts, "
                f"next_attempt_at, claimed_at, last_error, created_at, sent_at) "
                f"SELECT r.column2, r.column3, SUBSTR(%s || a.hmis_username, 1, 200), "
                f"%s || a.hmis_username || %s || r.column4, r.column4, "
                f"SUBSTR(%s || a.id || ':' || r.column3, 1, 200), %s, %s, %s, NULL, %s, %s, NULL "
                f"FROM {ACCOUNTS} a JOIN {people} r ON r.column1 = a.organization_id "
                f"WHERE a.id IN ({marks}) AND r.column2 <> a.user_id ORDER BY a.id, r.column2 "
                f"ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                [f"{subject}: ", head, f"{tail}\n\n{self.base}", f"{key}:", *common, *people_params, *params])]
        if new:
            outbox.deliver_after_commit(new)


def run_inactivity_sweep(*, at: dt.datetime, batch_size: int = BATCH_SIZE, max_batches: int | None = None,
                         ids: tuple[int, int] | None = None) -> SweepResult:
    """The daily run: reactivated accounts with no login that day, then
    accounts with no login for the inactivity limit, then the retraining
    limit. `max_batches` (per sweep) bounds a run; the next run goes on.
    `ids` (first, last): only the accounts in that range of ids (a chunk)."""
    return HMISSweep(at=at, ids=ids).run(batch_size=batch_size, max_batches=max_batches)


def account_ranges(parts: int) -> list[tuple[int, int]]:
    """Up to `parts` ranges (first, last) of account ids, of equal width, that
    together cover every account: the chunks of a split run (an account
    created after they are read waits for the next run)."""
    bounds = HMISAccount.objects.aggregate(first=Min("pk"), last=Max("pk"))
    first, last = bounds["first"], bounds["last"]
    if first is None:
        return []
    width = -(-(last - first + 1) // max(1, parts))
    return [(start, min(start + width - 1, last)) for start in range(first, last + 1, width)]


# ---------------------------------------------------------------- reminders

def send_inactivity_reminders(*, at: dt.datetime, batch_size: int = REMINDER_BATCH_SIZE) -> int:
    """Remind users the policy's days before day 30 (default 7 and 1). Only
    accounts whose clock is exactly that far along are selected (an indexed
    equality), and each reminder has its dedupe key, so a re-run sends none."""
    policy = AccessPolicy.current()
    today = local_date(at)
    queued = 0
    for days_before in policy.reminder_days:
        counted_from = today - dt.timedelta(days=policy.inactive_after_days - days_before)
        goes_inactive = today + dt.timedelta(days=days_before)
        due = HMISAccount.objects.filter(status=Active, must_log_in_by__isnull=True,
                                         inactivity_counted_from=counted_from)
        last_pk = 0
        while True:
            batch = list(due.filter(pk__gt=last_pk).order_by("pk").select_related("user")[:batch_size])
            if not batch:
                break
            last_pk = batch[-1].pk
            plural = "s" if days_before != 1 else ""
            with transaction.atomic():
                queued += notify_many(
                    Message(a.user, f"Log in to HMIS within {days_before} day{plural} to stay Active",
                            (f"Your HMIS account {a.hmis_username} goes Inactive on {day_text(goes_inactive)} "
                             f"unless you log in to HMIS before then (no login for {policy.inactive_after_days} "
                             "days)."),
                            reverse("hmis-account-status"),
                            f"inactivity-reminder:{a.pk}:{goes_inactive.isoformat()}:{days_before}")
                    for a in batch
                )
    return queued


def is_login_reminder_day(day: dt.date, policy: AccessPolicy) -> bool:
    """The policy's days of the month; a day past the month's end (31 in
    November) falls on its last day."""
    last = month_calendar.monthrange(day.year, day.month)[1]
    return any(min(wanted, last) == day.day for wanted in policy.login_reminder_days)


def send_login_reminders(*, at: dt.datetime, batch_size: int = REMINDER_BATCH_SIZE) -> int:
    """Seed 002's suggested reminders on the 1st and 15th, for users who opted in."""
    policy = AccessPolicy.current()
    today = local_date(at)
    if not is_login_reminder_day(today, policy):
        return 0
    due = HMISAccount.objects.filter(status=Active, login_reminders=True)
    queued, last_pk = 0, 0
    while True:
        batch = list(due.filter(pk__gt=last_pk).order_by("pk").select_related("user")[:batch_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        with transaction.atomic():
            queued += notify_many(
                Message(a.user, "Reminder: log in to HMIS",
                        (f"This is your reminder to log in to HMIS as {a.hmis_username}. Logging in at least every "
                         f"{policy.inactive_after_days} days keeps your account Active."),
                        reverse("hmis-account-status"), f"login-reminder:{a.pk}:{today.isoformat()}")
                for a in batch
            )
    return queued
