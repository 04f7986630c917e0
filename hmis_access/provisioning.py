"""The provisioning queue, its deadline sweep and the SLA figure.

Any model that subclasses `hmis_access.models.ProvisioningWork` and is
registered here (`register_queue_model`) appears in the CoC's queue, is
flagged on its due date and escalated when overdue, and counts in the SLA.
Access requests are registered by this app; a later stage registers its own
kind from its `ready()` (reactivation requests, `hmis_accounts`), so this app
never names it.
"""

import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.access import Work, provisioning_staff, staff_doing
from hmis_portal.core.audit import record_event
from hmis_portal.core.calendar import (BusinessCalendar, add_business_days, by_end_of_day, deadline_day, end_of_day,
                                       local_date, start_of_day)
from hmis_portal.core.dates import day_text, deadline_text
from hmis_portal.core.outbox import notify

from .models import AccessPolicy, AccessRequest

# The kinds of work in the queue, in the order they were registered.
QUEUE_MODELS: list = [AccessRequest]
# A sweep handles at most this many items per kind per run; the next run
# (or a re-run) picks up the rest.
SWEEP_BATCH = 500


def provisioning_due(ready_at: dt.datetime, *, policy: AccessPolicy | None = None) -> dt.datetime:
    """The moment a request that became ready at `ready_at` is overdue, by the
    policy's deadline:

    - business days (seed 000: "within 3 business days"; SPEC §4): the end of
      the Nth business day after the local date of `ready_at` (the ready date
      itself never counts, so a request ready on a weekend or holiday counts
      from the next business day), i.e. local midnight after that day;
    - clock hours (seed 004: "within 24 – 48"): `ready_at` plus that many
      elapsed hours, weekends and holidays included. The sum is taken in UTC,
      so a daylight-saving change does not add or take away an hour."""
    policy = policy or AccessPolicy.current()
    if policy.provisioning_in_hours:
        return ready_at.astimezone(dt.UTC) + dt.timedelta(hours=policy.provisioning_hours)
    return end_of_day(add_business_days(ready_at, policy.provisioning_business_days))


def register_queue_model(model) -> None:
    """A later stage adds its kind of provisioning work (a ProvisioningWork
    subclass) to the queue, its deadline sweep and the SLA. Idempotent."""
    if model not in QUEUE_MODELS:
        QUEUE_MODELS.append(model)


def queue_models():
    return list(QUEUE_MODELS)


def _admin_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@dataclass
class QueueEntry:
    item: object
    kind: str
    due_at: dt.datetime | None
    overdue: bool
    due_today: bool
    # Business days left for a deadline at the end of a day, whole hours left
    # for a deadline in hours; negative when overdue.
    left: int
    left_unit: str
    admin_url: str
    # Why a row in a state no service makes (ready without a deadline) needs a
    # person to look at it; empty for every other row.
    attention: str = ""

    @property
    def needs_attention(self) -> bool:
        return bool(self.attention)

    @property
    def left_text(self) -> str:
        """ "2 business days", "5 hours" (the size of `left`)."""
        if self.attention:
            return self.attention
        count = abs(self.left)
        unit = self.left_unit if count != 1 else self.left_unit.removesuffix("s")
        return f"{count} {unit}"


def is_overdue(due_at: dt.datetime, now: dt.datetime) -> bool:
    """A deadline is missed from its due moment on (`provisioning_due_at` is
    the exclusive end: local midnight after the due day, or the hour)."""
    return now >= due_at


NO_DEADLINE = "Needs attention: ready with no provisioning deadline recorded. Open the request and check it."


def queue_entry(item, kind: str, *, now: dt.datetime, calendar: BusinessCalendar) -> QueueEntry:
    due_at = item.provisioning_due_at
    if due_at is None:
        # No service makes this state, but one such row (an import, a hand
        # edit) must not take down the queue or the home page: show it.
        return QueueEntry(item, kind, None, False, False, 0, "", _admin_url(item), attention=NO_DEADLINE)
    today = local_date(now)
    overdue = is_overdue(due_at, now)
    if by_end_of_day(due_at):
        left, unit = calendar.business_days_between(today, deadline_day(due_at)), "business days"
    else:
        seconds = (due_at - now).total_seconds()
        left, unit = int(seconds // 3600) if seconds >= 0 else -int(-seconds // 3600), "hours"
    return QueueEntry(item, kind, due_at, overdue, not overdue and deadline_day(due_at) == today,
                      left, unit, _admin_url(item))


def provisioning_queue(*, now: dt.datetime | None = None, first: int | None = None) -> list[QueueEntry]:
    """Every item awaiting provisioning, earliest deadline first, with the time
    left (negative when overdue); only the `first` so many when given (the
    home page's few), read as such, not all of them. One query per kind."""
    now = now or timezone.now()
    calendar = BusinessCalendar.load()
    entries = []
    for model in queue_models():
        # In the order of the sort below: a row without a deadline (it needs
        # attention) first, then by deadline and since when it was ready.
        rows = model.awaiting_provisioning().select_related("user", "organization").order_by(
            F("provisioning_due_at").asc(nulls_first=True), F("ready_at").asc(nulls_last=True), "pk")
        for item in rows if first is None else rows[:first]:
            entries.append(queue_entry(item, model.queue_kind, now=now, calendar=calendar))
    # Rows needing attention first; then by deadline.
    entries.sort(key=lambda e: (not e.needs_attention, e.due_at or now, e.item.ready_at or now))
    return entries if first is None else entries[:first]


class WaitingQueue:
    """The whole queue as a `Paginator` reads it, without reading it whole:
    its length is a count per kind, and a page is the first rows of each
    kind up to the page's end, merged (`provisioning_queue(first=...)`). A
    queue grown long (an HMIS outage, a week of holidays) costs a page the
    same queries as a short one."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def count(self) -> int:
        return sum(model.awaiting_provisioning().count() for model in queue_models())

    def __getitem__(self, window: slice) -> list[QueueEntry]:
        return provisioning_queue(now=self.now, first=window.stop)[window]


def sweep_deadlines(*, moment: dt.datetime) -> dict:
    """Flag items due later today to the provisioning group; escalate overdue
    ones to the provisioning group and the system admins — each once per item
    per local day (an hour deadline may be flagged in the morning and
    escalated in the afternoon of the same day). The conditional update on
    `last_flagged_on` / `last_escalated_on` is the claim (two runs at once act
    once), and the outbox dedupe keys make a re-run after a crash send nothing
    twice."""
    today = local_date(moment)
    # Looked up once per run, not per item: due today goes to the
    # provisioning staff; overdue escalates to everyone who may grant.
    escalation = list(staff_doing(Work.PROVISION))
    provisioning = list(provisioning_staff())
    counts = {"due_today": 0, "overdue": 0}
    not_flagged = Q(last_flagged_on__isnull=True) | Q(last_flagged_on__lt=today)
    not_escalated = Q(last_escalated_on__isnull=True) | Q(last_escalated_on__lt=today)
    for model in queue_models():
        # Both read the model's (deadline) index: due by the end of today and
        # not yet flagged today, or missed and not yet escalated today.
        waiting = model.awaiting_provisioning().select_related("user", "organization")
        due = list(waiting.filter(provisioning_due_at__gt=moment, provisioning_due_at__lte=end_of_day(today))
                   .filter(not_flagged).order_by("provisioning_due_at", "pk")[:SWEEP_BATCH])
        missed = list(waiting.filter(provisioning_due_at__lte=moment)
                      .filter(not_escalated).order_by("provisioning_due_at", "pk")[:SWEEP_BATCH])
        for item in missed:
            if model.objects.filter(not_escalated, pk=item.pk).update(last_escalated_on=today) != 1:
                continue
            counts["overdue"] += 1
            who = f"{item.user} ({item.organization})"
            record_event(actor=None, subject=item, verb="escalated overdue provisioning",
                         reason=f"{deadline_text(item.provisioning_due_at)}; still not provisioned on {day_text(today)}.")
            notify(recipients=escalation, subject=f"OVERDUE: HMIS {model.queue_kind} for {who}",
                   body=(f"The {model.queue_kind} for {who} is still not provisioned. "
                         f"{deadline_text(item.provisioning_due_at)}."),
                   link=_admin_url(item), dedupe_key=f"provisioning-overdue:{model._meta.model_name}:{item.pk}:{today}")
        for item in due:
            if model.objects.filter(not_flagged, pk=item.pk).update(last_flagged_on=today) != 1:
                continue
            counts["due_today"] += 1
            who = f"{item.user} ({item.organization})"
            record_event(actor=None, subject=item, verb="flagged due today")
            notify(recipients=provisioning, subject=f"Due today: HMIS {model.queue_kind} for {who}",
                   body=f"The {model.queue_kind} for {who} is due today. {deadline_text(item.provisioning_due_at)}.",
                   link=_admin_url(item), dedupe_key=f"provisioning-due:{model._meta.model_name}:{item.pk}:{today}")
    return counts


@dataclass
class MonthFigure:
    month: dt.date
    provisioned: int
    on_time: int
    # In the policy's unit: business days for a business-day deadline, hours
    # for an hour deadline (AccessPolicy.provisioning_unit).
    median_time: float | None

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.provisioned if self.provisioned else None


def monthly_sla(*, months: int = 12, today: dt.date | None = None) -> list[MonthFigure]:
    """Per month of provisioning (CoC dates): how many were provisioned, the
    share on time (provisioned before the deadline's moment) and the median
    time from ready to provisioned, in business days or hours as the policy
    counts its deadline. One query for every kind together (a UNION), bounded
    to `months`, whatever the number of months."""
    today = today or local_date()
    in_hours = AccessPolicy.current().provisioning_in_hours
    first = (today.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    calendar = BusinessCalendar.load()
    buckets: dict[dt.date, list[tuple[bool, float]]] = {}
    # order_by(): no part of the UNION keeps its model's ordering, which
    # SQLite (the embedded default) refuses inside a compound statement.
    kinds = [model.objects.filter(provisioned_at__gte=start_of_day(first), ready_at__isnull=False,
                                  provisioning_due_at__isnull=False).order_by().values_list(
        "ready_at", "provisioned_at", "provisioning_due_at") for model in queue_models()]
    rows = kinds[0].union(*kinds[1:], all=True) if kinds else []
    for ready_at, provisioned_at, due_at in rows:
        day = local_date(provisioned_at)
        if day < first:
            continue
        taken = ((provisioned_at - ready_at).total_seconds() / 3600 if in_hours
                 else calendar.business_days_between(local_date(ready_at), day))
        buckets.setdefault(day.replace(day=1), []).append((not is_overdue(due_at, provisioned_at), taken))
    return [
        MonthFigure(month, len(values), sum(1 for ok, _ in values if ok),
                    round(statistics.median(t for _, t in values), 1) if values else None)
        for month, values in sorted(buckets.items(), reverse=True)
    ]
