"""The provisioning queue, its deadline sweep and the SLA figure.

Any model that subclasses `hmis_access.models.ProvisioningWork` and is listed in
QUEUE_MODELS appears in the CoC's queue, is flagged on its due date and
escalated when overdue, and counts in the SLA — a reactivation request joins
by adding its "app_label.Model" here.
"""

import datetime as dt
import statistics
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Q
from django.urls import reverse

from accounts.access import Work, provisioning_staff, staff_doing
from hmis_portal.core.audit import record_event
from hmis_portal.core.calendar import BusinessCalendar, add_business_days, local_date, start_of_day
from hmis_portal.core.dates import day_text, deadline_text
from hmis_portal.core.outbox import notify

from .models import AccessPolicy

QUEUE_MODELS = ["hmis_access.AccessRequest", "hmis_access.ReactivationRequest"]
# A sweep handles at most this many items per kind per run; the next run
# (or a re-run) picks up the rest.
SWEEP_BATCH = 500


def provisioning_due_date(ready_at: dt.datetime | dt.date) -> dt.date:
    """The date by the end of which access is due: the policy's number of
    business days after the local date of `ready_at` (seed 000: "within 3
    business days"; SPEC §4). The ready date itself never counts, so a
    request that becomes ready on a weekend or holiday counts from the next
    business day."""
    return add_business_days(ready_at, AccessPolicy.current().provisioning_business_days)


def queue_models():
    return [apps.get_model(label) for label in QUEUE_MODELS]


def _admin_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@dataclass
class QueueEntry:
    item: object
    kind: str
    due_on: dt.date
    business_days_left: int
    admin_url: str

    @property
    def overdue(self) -> bool:
        return self.business_days_left < 0

    @property
    def due_today(self) -> bool:
        return self.business_days_left == 0


def provisioning_queue(*, today: dt.date | None = None) -> list[QueueEntry]:
    """Every item awaiting provisioning, earliest deadline first, with business
    days left (negative when overdue). One query per kind."""
    today = today or local_date()
    calendar = BusinessCalendar.load()
    entries = []
    for model in queue_models():
        rows = model.awaiting_provisioning().select_related("user", "organization").order_by(
            "provisioning_due_on", "ready_at", "pk")
        for item in rows:
            entries.append(QueueEntry(item, model.queue_kind, item.provisioning_due_on,
                                      calendar.business_days_between(today, item.provisioning_due_on),
                                      _admin_url(item)))
    return sorted(entries, key=lambda e: (e.due_on, e.item.ready_at))


def sweep_deadlines(*, moment: dt.datetime) -> dict:
    """Flag items due today to the provisioning group; escalate overdue ones to
    the provisioning group and the system admins — once per item per local
    day. The conditional update on `last_flagged_on` is the claim (two runs
    at once act once), and the outbox dedupe keys make a re-run after a crash
    send nothing twice."""
    today = local_date(moment)
    # Looked up once per run, not per item: due today goes to the
    # provisioning staff; overdue escalates to everyone who may grant.
    escalation = list(staff_doing(Work.PROVISION))
    provisioning = list(provisioning_staff())
    counts = {"due_today": 0, "overdue": 0}
    for model in queue_models():
        due = (model.awaiting_provisioning()
               .filter(provisioning_due_on__lte=today)
               .filter(Q(last_flagged_on__isnull=True) | Q(last_flagged_on__lt=today))
               .select_related("user", "organization").order_by("provisioning_due_on", "pk")[:SWEEP_BATCH])
        for item in due:
            claimed = model.objects.filter(pk=item.pk).filter(
                Q(last_flagged_on__isnull=True) | Q(last_flagged_on__lt=today)).update(last_flagged_on=today)
            if claimed != 1:
                continue
            overdue = item.provisioning_due_on < today
            link = _admin_url(item)
            who = f"{item.user} ({item.organization})"
            if overdue:
                counts["overdue"] += 1
                record_event(actor=None, subject=item, verb="escalated overdue provisioning",
                             reason=f"{deadline_text(item.provisioning_due_on)}; still not provisioned on {day_text(today)}.")
                notify(recipients=escalation, subject=f"OVERDUE: HMIS {model.queue_kind} for {who}",
                       body=(f"The {model.queue_kind} for {who} is still not provisioned. "
                             f"{deadline_text(item.provisioning_due_on)}."),
                       link=link, dedupe_key=f"provisioning-overdue:{model._meta.model_name}:{item.pk}:{today}")
            else:
                counts["due_today"] += 1
                record_event(actor=None, subject=item, verb="flagged due today")
                notify(recipients=provisioning, subject=f"Due today: HMIS {model.queue_kind} for {who}",
                       body=f"The {model.queue_kind} for {who} is due by the end of today.",
                       link=link, dedupe_key=f"provisioning-due:{model._meta.model_name}:{item.pk}:{today}")
    return counts


@dataclass
class MonthFigure:
    month: dt.date
    provisioned: int
    on_time: int
    median_business_days: float | None

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.provisioned if self.provisioned else None


def monthly_sla(*, months: int = 12, today: dt.date | None = None) -> list[MonthFigure]:
    """Per month of provisioning (CoC dates): how many were provisioned, the
    share on time (by the end of their due date) and the median business days
    from ready to provisioned. One query per kind, bounded to `months`."""
    today = today or local_date()
    first = (today.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    calendar = BusinessCalendar.load()
    buckets: dict[dt.date, list[tuple[bool, int]]] = {}
    for model in queue_models():
        rows = model.objects.filter(provisioned_at__gte=start_of_day(first), ready_at__isnull=False,
                                    provisioning_due_on__isnull=False).values_list(
            "ready_at", "provisioned_at", "provisioning_due_on")
        for ready_at, provisioned_at, due_on in rows:
            day = local_date(provisioned_at)
            if day < first:
                continue
            days = calendar.business_days_between(local_date(ready_at), day)
            buckets.setdefault(day.replace(day=1), []).append((day <= due_on, days))
    return [
        MonthFigure(month, len(values), sum(1 for ok, _ in values if ok),
                    statistics.median(d for _, d in values) if values else None)
        for month, values in sorted(buckets.items(), reverse=True)
    ]
