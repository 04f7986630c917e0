"""The daily HMIS account sweeps (seed 002, SPEC §3.5 and §4), set-based
like the referral timeliness sweep (STYLE §5).

Each of the three sweeps (reactivated accounts nobody logged in to, accounts
with no login for the inactivity limit, accounts reaching the retraining
limit) works in bounded batches, one transaction each:

1. the transition, through its one door in `hmis_accounts.services`
   (`hmis_account_make_inactive`, `hmis_account_require_retraining`, which a
   person's action calls too): given the batch as a `bulk.Batch`, its one
   `UPDATE … FROM (SELECT … ORDER BY clock, id LIMIT n FOR UPDATE SKIP
   LOCKED)` claims and changes the accounts and RETURNs them, the selection
   reading one of HMISAccount's partial indexes in key order; the service
   writes the audit events and queues `active=false` for the HMIS with
   `INSERT … SELECT` over the claimed ids;
2. the sweep tells: the outbox rows are written with `INSERT … SELECT` over
   the claimed ids (`ON CONFLICT (dedupe_key) DO NOTHING`); the people to
   tell and their links are read once per run per agency;
3. commit, then the new messages go to the workers in one task.

The two ways to go Inactive (no login in time after a reactivation, no
login for the inactivity limit) are one step, `HMISSweep.inactive`, given
what differs (`_InactiveStep`).

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

The claim, event and outbox statements are `hmis_portal.core.bulk`'s, the
same on PostgreSQL and SQLite ≥ 3.35 but for the few places it tells apart.
"""

import calendar as month_calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import Max, Min
from django.urls import reverse

from hmis_portal.core import bulk, outbox
from hmis_portal.core.bulk import Sql
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import day_text
from hmis_portal.core.outbox import Message, notify_many
from hmis_portal.core.site import portal_base

from accounts.models import Membership, Organization, Persona, User
from hmis_access.models import AccessPolicy, HMISAccount

from . import services

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


@dataclass(frozen=True)
class _Claimed:
    id: int
    user_id: int
    organization_id: int
    clock: dt.date | None  # the date the message names (before the claim changed it)


@dataclass(frozen=True)
class _InactiveStep:
    """What differs between the two ways an account goes Inactive: which
    accounts are due (`due`, over the clock `clock`: the step reads the
    partial index on (clock, id)), the reason, the audit note, and the text
    around the username in the message (`body(day)`, day: the clock's date)."""

    reason: str
    clock: str
    due: Sql
    note: str
    body: Callable[[dt.date | None], tuple[str, str]]


class HMISSweep:
    """One run of the sweeps as of `at`. What every batch needs is read once
    per run: the policy, the links, and each agency's administrators (as they
    are when the run first meets the agency)."""

    def __init__(self, *, at: dt.datetime, policy: AccessPolicy | None = None, ids: tuple[int, int] | None = None):
        self.at = at
        self.ids = ids  # (first, last) account id of a chunk; None: every account
        self.today = local_date(at)
        self.policy = policy or AccessPolicy.current()
        self.base = portal_base()
        self.status_link = reverse("hmis-account-status")
        self._administrators: dict[int, list[tuple]] = {}
        self._after: dict[str, tuple] = {}
        days = self.policy.inactive_after_days
        # Index hmis_reactivation_login_due: (must_log_in_by, id) WHERE active AND must_log_in_by IS NOT NULL.
        self.lapsed_after_reactivation = _InactiveStep(
            reason=HMISAccount.InactiveReason.NO_LOGIN_AFTER_REACTIVATION, clock="must_log_in_by",
            due=Sql("must_log_in_by IS NOT NULL AND must_log_in_by < %s", (bulk.day(self.today),)),
            note=f"No HMIS login within {self.policy.reactivation_login_hours} hours of reactivation.",
            body=lambda day: ("The HMIS account ", (
                f" was reactivated but nobody logged in to HMIS by the end of {day_text(day)}, so it is "
                f"Inactive again. {HOW_TO}")))
        # Index hmis_inactivity_due: (inactivity_counted_from, id) WHERE active AND must_log_in_by IS NULL.
        self.no_login = _InactiveStep(
            reason=HMISAccount.InactiveReason.NO_LOGIN, clock="inactivity_counted_from",
            due=Sql("must_log_in_by IS NULL AND inactivity_counted_from <= %s",
                    (bulk.day(self.today - dt.timedelta(days=days)),)),
            note=f"No HMIS login for {days} days.",
            body=lambda day: ("The HMIS account ", (
                f" has had no HMIS login since {day_text(day)}, {days} days, so it is now Inactive "
                f"and cannot be used. {HOW_TO}")))

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

    # --- the three sweeps -----------------------------------------------------

    def run(self, *, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> SweepResult:
        result = SweepResult()
        result.inactive_after_reactivation = self._in_batches(
            partial(self.inactive, self.lapsed_after_reactivation), batch_size, max_batches)
        result.inactive = self._in_batches(partial(self.inactive, self.no_login), batch_size, max_batches)
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

    def batch(self, *, due: Sql, clock: str, size: int) -> bulk.Batch:
        """The next batch of up to `size` due accounts, earliest clock first,
        for a transition's service to claim (`bulk.Batch`), carrying the
        clock's value before the change."""
        # Keyset: each batch starts after the last one's (clock, id), so it
        # never walks again over index entries the run already claimed (they
        # stay in the partial index, dead, until vacuum). An account skipped
        # because someone held it is left for the next run.
        if self.ids is not None:
            # A chunk: the range is checked on the clock index's entries
            # (id is its second column), so a chunk reads no other chunk's rows.
            due = bulk.all_of(due, Sql("id BETWEEN %s AND %s", tuple(self.ids)))
        after = self._after.get(clock)
        if after is not None:
            due = bulk.all_of(due, Sql(f"({clock}, id) > (%s, %s)", (bulk.day(after[0]), after[1])))
        return bulk.Batch(due=due, order=f"{clock}, id", size=size, carry=(clock,))

    def _claimed(self, clock: str, rows: list[tuple]) -> list[_Claimed]:
        claimed = [_Claimed(pk, user_id, organization_id, bulk.read_day(day))
                   for pk, user_id, organization_id, day in rows]
        if claimed:
            self._after[clock] = max((c.clock, c.id) for c in claimed)
        return claimed

    def inactive(self, step: _InactiveStep, size: int) -> int:
        """A batch of accounts made Inactive, through the one door for that
        transition; then they and their agencies' administrators are told."""
        claimed = self._claimed(step.clock, services.hmis_account_make_inactive(
            accounts=self.batch(due=step.due, clock=step.clock, size=size), reason=step.reason, note=step.note,
            at=self.at))
        if claimed:
            self._tell(claimed, key=f"hmis-inactive:{self.today.isoformat()}",
                       subject="HMIS account is now Inactive", body=step.body)
        return len(claimed)

    def retraining(self, size: int) -> int:
        # Index hmis_retraining_due: (retraining_counted_from, id) WHERE NOT retraining_required.
        days = self.policy.retraining_after_days
        clock = "retraining_counted_from"
        due = Sql(f"{clock} <= %s", (bulk.day(self.today - dt.timedelta(days=days)),))
        claimed = self._claimed(clock, services.hmis_account_require_retraining(
            accounts=self.batch(due=due, clock=clock, size=size), at=self.at, policy=self.policy,
            note=f"No HMIS login for {days} days: {self.policy.retraining_title} must be retaken before "
                 "reactivation."))
        if not claimed:
            return 0
        self._tell(claimed, key=f"hmis-retraining:{self.today.isoformat()}", subject="HMIS retraining required",
                   body=lambda day: ("The HMIS account ", (
                       f" has had no HMIS login for {days} days. Before it can be reactivated, "
                       f"{self.policy.retraining_title} must be retaken.")), by_clock=False)
        return len(claimed)

    # --- what the people are told -----------------------------------------------

    def _tell(self, claimed: list[_Claimed], *, key: str, subject: str, body, by_clock: bool = True) -> None:
        """The account's user and its agency's administrators, one outbox row
        each (as `notify_many`: key `<key>:<account id>:<email>`). `body(day)`
        gives the text before and after the username; accounts are grouped by
        the date it names (a daily run: one group)."""
        groups = defaultdict(list)
        for c in claimed:
            groups[c.clock if by_clock else None].append(c)
        new = []
        for day, group in sorted(groups.items(), key=lambda item: item[0] or dt.date.min):
            head, tail = body(day)
            accounts = bulk.among("a.id", [c.id for c in group])
            # The users by their ids too: joined on user_id alone, the planner
            # reads the whole user table for every batch (a hash join).
            users = bulk.among("u.id", sorted({c.user_id for c in group}))
            new += bulk.insert_notifications(
                source=Sql(f"{ACCOUNTS} a JOIN {USERS} u ON u.id = a.user_id"),
                where=bulk.all_of(accounts, users, "u.email <> ''"), recipient=Sql("u.id"), email=Sql("u.email"),
                subject=subject, body=Sql("%s || a.hmis_username || %s",
                                          (head, f"{tail}\n\n{self.base}{self.status_link}")),
                link=self.status_link, dedupe_key=Sql("%s || a.id || ':' || u.email", (f"{key}:",)),
                order="a.id")
            administrators = self.administrators({c.organization_id for c in group})
            if not administrators:
                continue
            people = bulk.values(administrators)
            new += bulk.insert_notifications(
                source=Sql(f"{ACCOUNTS} a JOIN {people.text} r ON r.column1 = a.organization_id", people.params),
                where=bulk.all_of(accounts, "r.column2 <> a.user_id"), recipient=Sql("r.column2"),
                email=Sql("r.column3"), subject=Sql("%s || a.hmis_username", (f"{subject}: ",)),
                body=Sql("%s || a.hmis_username || %s || r.column4", (head, f"{tail}\n\n{self.base}")),
                link=Sql("r.column4"), dedupe_key=Sql("%s || a.id || ':' || r.column3", (f"{key}:",)),
                order="a.id, r.column2")
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
