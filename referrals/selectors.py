"""Reads, already narrowed to what a person may see (STYLE §4).

Provider staff see referrals to their agency's programs; the CES team sees
every provider's. Other CoC staff work in the admin and see none here: the
contact details are for those working the referral only (SPEC §3.4).
Every list is a constant number of queries whatever the number of referrals.
"""

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.access import is_coc_staff, restrict
from accounts.models import Organization
from hmis_portal.core import calendar
from onboarding.models import Program

from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition
from .services import is_ces_team


def visible_referrals(user):
    queryset = Referral.objects.all()
    if not user.is_authenticated or (is_coc_staff(user) and not is_ces_team(user)):
        return queryset.none()
    return restrict(queryset, user, organization_field="program__organization")


def require_referral_worker(user) -> None:
    """403 for someone who neither works at an agency nor is on the CES team."""
    if is_ces_team(user):
        return
    if is_coc_staff(user) or not user.memberships.exists():
        raise PermissionDenied("Referrals are for housing provider staff and the CES team.")


def access_referral(user, pk) -> Referral:
    """The referral if `user` works it (404 otherwise: it does not say it exists)."""
    return get_object_or_404(
        visible_referrals(user).select_related("program__organization", "program__program_type", "status",
                                               "referred_by", "transfer_requested_by", "rereferred_from"),
        pk=pk,
    )


def due_soon_bound(now: dt.datetime, policy: ReferralPolicy) -> dt.datetime:
    return now + dt.timedelta(days=policy.due_soon_days)


@dataclass
class CountsRow:
    status: NeedStatus
    total: int
    due_soon: int
    overdue: int


@dataclass
class ProgramCounts:
    program: Program
    rows: list = field(default_factory=list)

    @property
    def total(self):
        return sum(r.total for r in self.rows)

    @property
    def due_soon(self):
        return sum(r.due_soon for r in self.rows)

    @property
    def overdue(self):
        return sum(r.overdue for r in self.rows)


def counts_report(user, *, now: dt.datetime | None = None, organization: Organization | None = None
                  ) -> list[ProgramCounts]:
    """Seed 001's counts report: open referrals per program and need status,
    with due-soon and overdue counts. One aggregate on the partial index
    `referral_open_counts`, then the programs and statuses it names."""
    now = now or timezone.now()
    soon = due_soon_bound(now, ReferralPolicy.current())
    queryset = visible_referrals(user).filter(is_open=True)
    if organization is not None:
        queryset = queryset.filter(program__organization=organization)
    aggregates = list(
        queryset.values("program_id", "status_id")
        .annotate(total=Count("id"), overdue=Count("id", filter=Q(due_at__lte=now)),
                  due_soon=Count("id", filter=Q(due_at__gt=now, due_at__lte=soon)))
        .order_by()
    )
    if not aggregates:
        return []
    programs = {p.pk: p for p in Program.objects.filter(pk__in={a["program_id"] for a in aggregates})
                .select_related("organization")}
    statuses = {s.pk: s for s in NeedStatus.objects.all()}
    report = {}
    for row in aggregates:
        entry = report.setdefault(row["program_id"], ProgramCounts(programs[row["program_id"]]))
        entry.rows.append(CountsRow(statuses[row["status_id"]], row["total"], row["due_soon"], row["overdue"]))
    for entry in report.values():
        entry.rows.sort(key=lambda r: (r.status.sort_order, r.status.name))
    return sorted(report.values(), key=lambda e: (e.program.organization.name, e.program.name))


def referral_list(user, *, now: dt.datetime | None = None, program=None, status=None, due=None, queue=None,
                  organization=None, client_id=None):
    """The filtered list a count links to. Ordered by deadline (most late
    first); the view paginates it."""
    now = now or timezone.now()
    queryset = visible_referrals(user).select_related("program__organization", "status")
    if queue == "returned":
        # Back with the CES team and not yet re-referred.
        queryset = queryset.filter(Q(status__returns_to_matching=True) | Q(transfer_requested_at__isnull=False),
                                   rereferral__isnull=True).order_by("-status_entered_at", "-id")
    elif queue == "closed":
        queryset = queryset.filter(is_open=False).order_by("-closed_at", "-id")
    else:
        queryset = queryset.filter(is_open=True).order_by("due_at", "id")
    if program:
        queryset = queryset.filter(program_id=program)
    if status:
        queryset = queryset.filter(status_id=status)
    if organization:
        queryset = queryset.filter(program__organization_id=organization)
    if client_id:
        queryset = queryset.filter(hmis_client_id=client_id.strip())
    if due == "overdue":
        queryset = queryset.filter(due_at__lte=now)
    elif due == "soon":
        queryset = queryset.filter(due_at__gt=now, due_at__lte=due_soon_bound(now, ReferralPolicy.current()))
    return queryset


def overdue_referrals(user, *, now: dt.datetime | None = None):
    """Every overdue referral the person may see, most late first (index
    `referral_open_due`)."""
    now = now or timezone.now()
    return (visible_referrals(user).filter(is_open=True, due_at__lte=now)
            .select_related("program__organization", "status").order_by("due_at", "id"))


def history(referral: Referral):
    return referral.transitions.select_related("from_status", "to_status", "actor").order_by("made_at", "id")


def next_statuses(user, referral: Referral) -> list[NeedStatus]:
    """What the person may move the referral to from where it is."""
    if referral.status.is_final:
        return []
    allowed = referral.status.allowed_next.order_by("sort_order", "name")
    if not is_ces_team(user):
        allowed = allowed.exclude(set_by=NeedStatus.SetBy.CES_TEAM)
    return list(allowed)


def referral_organizations(user):
    """The agencies whose timeliness `user` may see."""
    if is_ces_team(user):
        return restrict(Organization.objects.filter(programs__referrals__isnull=False).distinct(), user,
                        organization_field="pk")
    if is_coc_staff(user):
        return Organization.objects.none()
    return Organization.objects.filter(memberships__user=user).distinct()


@dataclass
class MonthFigure:
    month: dt.date
    changes: int
    within: int
    median_days: dict  # status name -> median days in that status

    @property
    def share(self) -> float | None:
        return None if not self.changes else self.within / self.changes


def monthly_timeliness(organization: Organization, *, months: int = 12, now: dt.datetime | None = None
                       ) -> tuple[list[MonthFigure], list[NeedStatus]]:
    """Per month (CoC's calendar): the share of need-status changes made within
    the standard of the status left, and the median days spent in each
    status. One query over the agency's transitions of the period."""
    now = now or timezone.now()
    today = calendar.local_date(now)
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    rows = (ReferralTransition.objects
            .filter(referral__program__organization=organization, from_status__isnull=False,
                    made_at__gte=calendar.start_of_day(first))
            .values_list("made_at", "within_standard", "from_status_id", "days_in_status"))
    buckets = {}
    month = first
    while month <= today:
        buckets[month] = {"changes": 0, "within": 0, "days": defaultdict(list)}
        month = (month + dt.timedelta(days=32)).replace(day=1)
    for made_at, within, from_status_id, days in rows:
        bucket = buckets.get(calendar.local_date(made_at).replace(day=1))
        if bucket is None:
            continue
        if within is not None:
            bucket["changes"] += 1
            bucket["within"] += bool(within)
        if days is not None:
            bucket["days"][from_status_id].append(days)
    statuses = [s for s in NeedStatus.objects.filter(is_final=False)]
    figures = [
        MonthFigure(month, b["changes"], b["within"],
                    {s.pk: round(statistics.median(b["days"][s.pk]), 1) if b["days"].get(s.pk) else None
                     for s in statuses})
        for month, b in buckets.items()
    ]
    return figures, statuses
