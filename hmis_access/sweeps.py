"""The daily HMIS account sweeps (seed 002, SPEC §3.5 and §4).

Each sweep is set-based: an indexed range query on one of HMISAccount's
partial indexes selects what is due, and the accounts are changed in bounded
batches, each in its own transaction: rows locked in primary-key order, one
conditional UPDATE for the batch, one audit event per changed account (one
insert) and its messages (one insert, dedupe keys). A batch commits whole or
not at all, so a sweep killed half-way and run again finishes the rest and
sends nothing twice; a second run finds nothing due.

Days are the CoC's calendar dates: last login (or provisioning, or
reactivation) on local date D → Inactive on the sweep of D+30, retraining on
D+90, whatever the UTC offset did in between.
"""

import calendar as month_calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse

from hmis_portal.core.audit import record_events
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import day_text, moment_text

from accounts.models import Membership, Persona
from .models import AccessPolicy, HMISAccount, ReactivationRequest
from hmis_portal.core.outbox import Message, notify_many

BATCH_SIZE = 1000

Active = HMISAccount.Status.ACTIVE
Inactive = HMISAccount.Status.INACTIVE


@dataclass
class SweepResult:
    inactive: int = 0
    inactive_after_reactivation: int = 0
    retraining: int = 0

    def summary(self) -> str:
        return (f"{self.inactive} made Inactive (no login), {self.inactive_after_reactivation} made Inactive again "
                f"(no login in time after reactivation), {self.retraining} now need retraining")


def due_for_inactivity(today: dt.date, policy: AccessPolicy) -> QuerySet[HMISAccount]:
    # Index hmis_inactivity_due: (inactivity_counted_from, id) WHERE active AND must_log_in_by IS NULL.
    return HMISAccount.objects.filter(
        status=Active, must_log_in_by__isnull=True,
        inactivity_counted_from__lte=today - dt.timedelta(days=policy.inactive_after_days),
    )


def due_after_reactivation(today: dt.date) -> QuerySet[HMISAccount]:
    # Index hmis_reactivation_login_due: (must_log_in_by, id) WHERE active AND must_log_in_by IS NOT NULL.
    return HMISAccount.objects.filter(status=Active, must_log_in_by__isnull=False, must_log_in_by__lt=today)


def due_for_retraining(today: dt.date, policy: AccessPolicy) -> QuerySet[HMISAccount]:
    # Index hmis_retraining_due: (retraining_counted_from, id) WHERE NOT retraining_required.
    return HMISAccount.objects.filter(
        retraining_required=False,
        retraining_counted_from__lte=today - dt.timedelta(days=policy.retraining_after_days),
    )


def in_batches(due: QuerySet[HMISAccount], apply: Callable[[list[HMISAccount]], int], *,
               batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Run `apply` over the due accounts, a batch per transaction, walking the
    primary key upwards (keyset) so every batch makes progress."""
    changed, last_pk, batches = 0, 0, 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            # FOR UPDATE in primary-key order (saleor's lock_objects): the
            # sweep, a login import and a reactivation lock in the same order
            # and cannot deadlock. PostgreSQL re-checks the WHERE clause after
            # waiting for a lock, so an account that has just logged in, or
            # was changed by a concurrent run, drops out of the batch.
            batch = list(
                due.filter(pk__gt=last_pk).order_by("pk").select_related("user", "organization")
                .select_for_update(of=("self",))[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            changed += apply(batch)
        batches += 1
    return changed


def _administrators_by_organization(organization_ids) -> dict[int, list]:
    found = defaultdict(list)
    for membership in Membership.objects.filter(
        organization_id__in=set(organization_ids), persona=Persona.AGENCY_ADMINISTRATOR, user__is_active=True
    ).select_related("user"):
        found[membership.organization_id].append(membership.user)
    return found


def _messages_to_user_and_administrators(batch, *, key: str, subject: str, body: Callable[[HMISAccount], str]):
    administrators = _administrators_by_organization(a.organization_id for a in batch)
    status_link = reverse("hmis-account-status")
    for account in batch:
        text = body(account)
        yield Message(account.user, subject, text, status_link, f"{key}:{account.pk}")
        for admin in administrators.get(account.organization_id, ()):
            if admin.pk != account.user_id:
                agency_link = reverse("agency-hmis-accounts", kwargs={"slug": account.organization.slug})
                yield Message(admin, f"{subject}: {account.hmis_username}", text, agency_link,
                              f"{key}:{account.pk}")


def _deactivate(batch: list[HMISAccount], *, at: dt.datetime, today: dt.date, reason: str, explanation: str,
                body: Callable[[HMISAccount], str]) -> int:
    ids = [account.pk for account in batch]
    # Conditional: only rows still Active change (healthchecks' claim).
    changed = HMISAccount.objects.filter(pk__in=ids, status=Active).update(
        status=Inactive, inactive_since=at, inactive_reason=reason, must_log_in_by=None
    )
    record_events(actor=None, subjects=batch, verb="made inactive", from_state="Active", to_state="Inactive",
                  reason=explanation)
    notify_many(_messages_to_user_and_administrators(
        batch, key=f"hmis-inactive:{today.isoformat()}", subject="HMIS account is now Inactive", body=body))
    return changed


def _before(account: HMISAccount) -> str:
    if account.must_log_in_before is not None:
        return f"before {moment_text(account.must_log_in_before)}"
    return f"by the end of {day_text(account.must_log_in_by)}"


def run_inactivity_sweep(*, at: dt.datetime, batch_size: int = BATCH_SIZE, max_batches: int | None = None
                         ) -> SweepResult:
    policy = AccessPolicy.current()
    today = local_date(at)
    result = SweepResult()
    how_to = "Ask your agency administrator to request reactivation in the portal."

    result.inactive_after_reactivation = in_batches(
        due_after_reactivation(today),
        lambda batch: _deactivate(
            batch, at=at, today=today, reason=HMISAccount.InactiveReason.NO_LOGIN_AFTER_REACTIVATION,
            explanation=f"No HMIS login within {policy.reactivation_login_hours} hours of reactivation.",
            body=lambda a: (f"The HMIS account {a.hmis_username} was reactivated but nobody logged in to HMIS "
                            f"{_before(a)}, so it is Inactive again. {how_to}"),
        ),
        batch_size=batch_size, max_batches=max_batches,
    )
    result.inactive = in_batches(
        due_for_inactivity(today, policy),
        lambda batch: _deactivate(
            batch, at=at, today=today, reason=HMISAccount.InactiveReason.NO_LOGIN,
            explanation=f"No HMIS login for {policy.inactive_after_days} days.",
            body=lambda a: (f"The HMIS account {a.hmis_username} has had no HMIS login since "
                            f"{a.inactivity_counted_from:%B %-d, %Y}, {policy.inactive_after_days} days, so it is now "
                            f"Inactive and cannot be used. {how_to}"),
        ),
        batch_size=batch_size, max_batches=max_batches,
    )
    result.retraining = in_batches(
        due_for_retraining(today, policy),
        lambda batch: _require_retraining(batch, at=at, today=today, policy=policy),
        batch_size=batch_size, max_batches=max_batches,
    )
    return result


def _require_retraining(batch: list[HMISAccount], *, at: dt.datetime, today: dt.date, policy: AccessPolicy) -> int:
    ids = [account.pk for account in batch]
    changed = HMISAccount.objects.filter(pk__in=ids, retraining_required=False).update(
        retraining_required=True, retraining_required_on=today
    )
    record_events(actor=None, subjects=batch, verb="retraining required", from_state="", to_state="Retraining required",
                  reason=f"No HMIS login for {policy.retraining_after_days} days: {policy.retraining_title} must be "
                         "retaken before reactivation.")
    # A request that was ready now has to wait for the retraining too.
    waiting = list(ReactivationRequest.objects.select_for_update().filter(
        account_id__in=ids, status=ReactivationRequest.Status.READY).order_by("pk"))
    if waiting:
        ReactivationRequest.objects.filter(pk__in=[r.pk for r in waiting]).update(
            status=ReactivationRequest.Status.WAITING_FOR_RETRAINING, ready_at=None, provisioning_due_on=None)
        record_events(actor=None, subjects=waiting, verb="retraining required",
                      from_state=ReactivationRequest.Status.READY.label,
                      to_state=ReactivationRequest.Status.WAITING_FOR_RETRAINING.label)
    assign_retraining(batch, policy=policy)
    notify_many(_messages_to_user_and_administrators(
        batch, key=f"hmis-retraining:{today.isoformat()}", subject="HMIS retraining required",
        body=lambda a: (f"The HMIS account {a.hmis_username} has had no HMIS login for {policy.retraining_after_days} "
                        f"days. Before it can be reactivated, {policy.retraining_title} must be retaken."),
    ))
    return changed


def assign_retraining(batch: list[HMISAccount], *, policy: AccessPolicy) -> None:
    """Assign the policy's retraining courses (seed 002: the HMIS Basic
    Navigation Training Series) to each account of the batch: one delete and
    one insert into the assignment table, whatever the batch size."""
    course_ids = list(policy.retraining_courses.values_list("pk", flat=True))
    Assignment = HMISAccount.retraining_courses.through
    ids = [account.pk for account in batch]
    Assignment.objects.filter(hmisaccount_id__in=ids).delete()
    Assignment.objects.bulk_create(
        [Assignment(hmisaccount_id=pk, course_id=course_id) for pk in ids for course_id in course_ids],
        batch_size=1000, ignore_conflicts=True,
    )


# ---------------------------------------------------------------- reminders

def send_inactivity_reminders(*, at: dt.datetime, batch_size: int = BATCH_SIZE) -> int:
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
                            (f"Your HMIS account {a.hmis_username} goes Inactive on {goes_inactive:%A, %B %-d} "
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


def send_login_reminders(*, at: dt.datetime, batch_size: int = BATCH_SIZE) -> int:
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
