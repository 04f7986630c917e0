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
from functools import cached_property

from django.db import connection
from django.db.models import Count, F, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.access import (can_match, can_see_referral_counts, is_coc_staff, member_organizations,
                             referral_count_agencies, referral_lead_agencies, require, restrict, restrict_client_data,
                             sees_client_data)
from accounts.models import Organization
from hmis_portal.core import calendar
from hmis_portal.core.prepared import Param, Prepared
from onboarding.models import Program

from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition


def visible_referrals(user):
    """Referrals with their client data: the CES team's, or those of the
    agencies where `user` may see it (`accounts.access.restrict_client_data`)."""
    return restrict_client_data(Referral.objects.all(), user)


def overseen_referrals(user):
    """Referrals of the agencies whose referrals `user` oversees by the
    numbers (`accounts.access.referral_lead_agencies`): for counts only."""
    return Referral.objects.filter(program__organization__in=referral_lead_agencies(user))


def counted_referrals(user):
    """Referrals as counts only (no client data): every member of the
    provider agency sees how many wait, and the CES team all of them
    (`accounts.access.referral_count_agencies`). Each referral once, however
    many personas the person holds at its agency."""
    agencies = referral_count_agencies(user)
    return Referral.objects.all() if agencies is None else Referral.objects.filter(program__organization__in=agencies)


def require_referral_counts(user) -> None:
    require(can_see_referral_counts(user), "Referrals are for housing provider staff and the CES team.")


def require_referral_worker(user) -> None:
    """403 for someone who may see no agency's client data: the people who
    hold granted, active HMIS access with a role that works referrals, and
    the CES team."""
    require(sees_client_data(user),
            "Referrals' client details are for people with granted, active HMIS access at the provider agency in a "
            "role that works referrals, and the CES team. Your agency's counts are on the counts report.")


def access_referral(user, pk) -> Referral:
    """The referral if `user` works it (404 otherwise: it does not say it exists)."""
    return get_object_or_404(
        visible_referrals(user).select_related("program__organization", "program__program_type", "status",
                                               "referred_by", "transfer_requested_by", "rereferred_from"),
        pk=pk,
    )


def due_soon_bound(now: dt.datetime, policy: ReferralPolicy) -> dt.datetime:
    return now + dt.timedelta(days=policy.due_soon_days)


@dataclass(frozen=True)
class StatusName:
    """What the counts report shows of a need status: read with the counts,
    in the same statement, not as a `NeedStatus` per row."""
    pk: int
    code: str
    name: str
    sort_order: int


@dataclass
class CountsRow:
    status: StatusName
    total: int
    due_soon: int
    overdue: int


@dataclass
class ProgramCounts:
    """One program's line of the report: its names as read with the counts,
    its rows by status and their totals (summed once, when it is built)."""
    program_pk: int
    name: str
    organization_pk: int
    organization_name: str
    rows: list = field(default_factory=list)
    total: int = 0
    due_soon: int = 0
    overdue: int = 0

    @cached_property
    def program(self) -> Program:
        """The program as a model instance, with its agency, built from the
        names read with the counts (no query), for code that wants one."""
        program = Program(pk=self.program_pk, name=self.name, organization_id=self.organization_pk)
        program.organization = Organization(pk=self.organization_pk, name=self.organization_name)
        return program


@dataclass
class CountsReport:
    """The counts report's programs, and the CES team's number of clients
    returned for re-referral when asked for (None otherwise)."""
    programs: list[ProgramCounts]
    returned: int | None = None


# The report's one statement: the aggregate (the ORM's) first, then the names
# of what it counts. The names are joined to the aggregate's few rows rather
# than grouped over: grouping by them would join every open referral to its
# program before counting. The one-row count of clients returned for
# re-referral rides along (a row even when nothing is open), so the page asks
# the database once.
_COUNTS_WITH_NAMES = """
WITH counts AS ({aggregate}), returned AS ({returned})
SELECT c.program_id, p.{program_name}, o.{organization_pk}, o.{organization_name},
       c.status_id, s.{status_code}, s.{status_name}, s.{status_order}, c.total, c.due_soon, c.overdue,
       returned.total
FROM returned LEFT JOIN (
    counts c
    JOIN {program} p ON p.{program_pk} = c.program_id
    JOIN {organization} o ON o.{organization_pk} = p.{program_organization}
    JOIN {status} s ON s.{status_pk} = c.status_id
) ON 1 = 1
"""


def _counts_statement(aggregate: str, returned: str | None = None) -> str:
    program, organization, status = Program._meta, Organization._meta, NeedStatus._meta
    quote = connection.ops.quote_name
    return _COUNTS_WITH_NAMES.format(
        aggregate=aggregate,
        returned=f"SELECT COUNT(*) AS total FROM ({returned}) r" if returned else "SELECT NULL AS total",
        program=quote(program.db_table), organization=quote(organization.db_table),
        status=quote(status.db_table), program_pk=quote(program.pk.column),
        program_name=quote(program.get_field("name").column),
        program_organization=quote(program.get_field("organization").column),
        organization_pk=quote(organization.pk.column), organization_name=quote(organization.get_field("name").column),
        status_pk=quote(status.pk.column), status_code=quote(status.get_field("code").column),
        status_name=quote(status.get_field("name").column), status_order=quote(status.get_field("sort_order").column))


def _counts_query(every_agency: bool, returned: bool) -> Prepared:
    """The report's statement for one shape of narrowing: every agency, or the
    agencies given at each call (`agencies`, the person's
    `referral_count_agencies`), with or without the returned count."""
    def narrowed(queryset):
        if every_agency:
            return queryset
        return queryset.filter(program__organization__in=Param("agencies", many=True))

    def build():
        aggregate = (narrowed(Referral.objects.filter(is_open=True)).values("program_id", "status_id")
                     .annotate(total=Count("*"),
                               due_soon=Count("due_at", filter=Q(due_at__gt=Param("now"), due_at__lte=Param("soon"))),
                               overdue=Count("due_at", filter=Q(due_at__lte=Param("now"))))
                     .order_by())
        if not returned:
            return (aggregate,)
        # No order (the model's would sort them): an index-only count of `referral_awaiting_rereferral`.
        return aggregate, narrowed(Referral.objects.filter(awaiting_rereferral=True)).order_by().values("pk")

    return Prepared(build, around=_counts_statement)


# Built on first use and kept by the process: building the querysets and
# turning them into SQL cost more than running them on every request.
_COUNTS_QUERIES = {(every, returned): _counts_query(every, returned) for every in (True, False)
                   for returned in (True, False)}


def counts_report(user, *, now: dt.datetime | None = None, organization: Organization | None = None,
                  returned: bool = False) -> CountsReport:
    """Seed 001's counts report: open referrals per program and need status,
    with due-soon and overdue counts, and with `returned` the number of
    clients returned for re-referral (`returned_for_rereferral`). One
    statement, built once per process: the aggregate, an index-only scan of
    the partial index `referral_open_counts` (COUNT(*) and counts of due_at,
    all columns of the index), with the names of the programs, agencies and
    statuses it names joined to its rows. Plain rows, by agency and program
    name, each program's by status order and name."""
    now = now or timezone.now()
    soon = due_soon_bound(now, ReferralPolicy.current())
    # The CES team counts and sees the client data of the same agencies, so
    # one narrowing serves the counts and the returned clients alike.
    agencies = referral_count_agencies(user)
    if organization is not None:
        agencies = [organization.pk] if agencies is None or organization.pk in agencies else []
    query = _COUNTS_QUERIES[agencies is None, returned]
    found = query(now=now, soon=soon, agencies=agencies or [])
    report: dict[int, ProgramCounts] = {}
    for program_pk, name, organization_pk, organization_name, *status, total, due_soon, overdue, _ in found:
        if program_pk is None:  # nothing open: the row that carries the returned count alone
            continue
        entry = report.get(program_pk)
        if entry is None:
            entry = report[program_pk] = ProgramCounts(program_pk, name, organization_pk, organization_name)
        entry.rows.append(CountsRow(StatusName(*status), total, due_soon, overdue))
        entry.total += total
        entry.due_soon += due_soon
        entry.overdue += overdue
    for entry in report.values():
        entry.rows.sort(key=lambda r: (r.status.sort_order, r.status.name))
    return CountsReport(sorted(report.values(), key=lambda e: (e.organization_name, e.name)),
                        found[0][-1] if returned else None)


def returned_for_rereferral(user):
    """Clients back with the CES team and not yet re-referred, most recently
    returned first (partial index `referral_awaiting_rereferral`)."""
    return visible_referrals(user).filter(awaiting_rereferral=True)


# Each list's order: its first column (nulls last) and the id, both in one
# direction, so that a page is found from the last row of the one before
# (keyset) on the index that has the same columns, however deep the page.
LIST_ORDER = {
    "open": ("due_at", False),          # referral_open_due
    "closed": ("closed_at", True),      # referral_closed
    "returned": ("status_entered_at", True),  # referral_awaiting_rereferral
}


def referral_list(user, *, now: dt.datetime | None = None, program=None, status=None, due=None, queue=None,
                  organization=None, client_id=None):
    """The filtered list a count links to (use `ReferralFilter` for request
    input). The view pages it with `keyset_page`."""
    now = now or timezone.now()
    queryset = visible_referrals(user).select_related("program__organization", "status")
    if queue == "returned":
        queryset = queryset.filter(awaiting_rereferral=True)
    elif queue == "closed":
        queryset = queryset.filter(is_open=False)
    else:
        queryset = queryset.filter(is_open=True)
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
            .select_related("program__organization", "status"))


@dataclass
class KeysetPage:
    """One page of a list, found from the row before it (or after it, going
    back) instead of by counting rows with OFFSET: the same few index reads on
    page 1 or page 20,000 of a million referrals."""

    rows: list
    has_next: bool
    has_previous: bool
    next_cursor: str = ""
    previous_cursor: str = ""

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]


def _cursor(row, column) -> str:
    value = getattr(row, column)
    return f"{value.isoformat() if value is not None else ''}~{row.pk}"


def _parse_cursor(text):
    """(value, id) from a cursor, or None for a cursor that is not one of ours."""
    if not text or "~" not in text:
        return None
    value, _, pk = text.rpartition("~")
    try:
        pk = int(pk)
        value = dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if not 0 < pk < 2**63 or (value is not None and value.tzinfo is None):
        return None
    return value, pk


def _ordered(queryset, column, descending, reverse=False):
    """Rows with `column` set, in the list's order (or its reverse). Plain
    ASC/DESC, so PostgreSQL walks the (column, id) index either way."""
    down = descending != reverse
    return queryset.filter(**{f"{column}__isnull": False}).order_by(
        F(column).desc() if down else F(column).asc(), "-pk" if down else "pk")


def _unset(queryset, column, descending, reverse=False):
    """Rows without `column` (no deadline), which come last, by id."""
    down = descending != reverse
    return queryset.filter(**{f"{column}__isnull": True}).order_by("-pk" if down else "pk")


def _past(column, descending, value, pk, reverse=False) -> Q:
    """Rows strictly after (value, pk), or before it with `reverse`: a range
    on the column (the index bound) and the id for rows sharing its value."""
    down = descending != reverse
    op, strict = ("lte", "lt") if down else ("gte", "gt")
    return Q(**{f"{column}__{op}": value}) & (Q(**{f"{column}__{strict}": value}) | Q(**{f"pk__{strict}": pk}))


def keyset_page(queryset, *, column: str, descending: bool, after: str | None = None, before: str | None = None,
                size: int = 50) -> KeysetPage:
    """A page of `queryset` ordered by `column` then id (both descending or
    both ascending; rows without the column last): the first page, the page
    after the cursor `after`, or the one before the cursor `before`. One index
    range read, two where a page crosses into the rows without the column."""
    want = size + 1
    start_after, end_before = _parse_cursor(after), _parse_cursor(before)
    if end_before is not None:
        value, pk = end_before
        if value is None:
            rows = list(_unset(queryset, column, descending, reverse=True)
                        .filter(**{f"pk__{'gt' if descending else 'lt'}": pk})[:want])
            if len(rows) < want:
                rows += list(_ordered(queryset, column, descending, reverse=True)[: want - len(rows)])
        else:
            rows = list(_ordered(queryset, column, descending, reverse=True)
                        .filter(_past(column, descending, value, pk, reverse=True))[:want])
        has_previous, rows, has_next = len(rows) > size, rows[:size][::-1], True
    else:
        value, pk = start_after if start_after is not None else (dt.datetime.min, None)
        rows = []
        if start_after is None:
            rows = list(_ordered(queryset, column, descending)[:want])
        elif value is not None:
            rows = list(_ordered(queryset, column, descending).filter(_past(column, descending, value, pk))[:want])
        if len(rows) < want:
            unset = _unset(queryset, column, descending)
            if start_after is not None and value is None:
                unset = unset.filter(**{f"pk__{'lt' if descending else 'gt'}": pk})
            rows += list(unset[: want - len(rows)])
        has_next, rows, has_previous = len(rows) > size, rows[:size], start_after is not None
    return KeysetPage(rows, has_next=has_next and bool(rows), has_previous=has_previous and bool(rows),
                      next_cursor=_cursor(rows[-1], column) if rows else "",
                      previous_cursor=_cursor(rows[0], column) if rows else "")


def history(referral: Referral):
    return referral.transitions.select_related("from_status", "to_status", "actor").order_by("made_at", "id")


def next_statuses(user, referral: Referral) -> list[NeedStatus]:
    """What the person may move the referral to from where it is."""
    if referral.status.is_final:
        return []
    allowed = referral.status.allowed_next.filter(active=True).order_by("sort_order", "name")
    if not can_match(user):
        allowed = allowed.exclude(set_by=NeedStatus.SetBy.CES_TEAM)
    return list(allowed)


def referral_organizations(user):
    """The agencies whose timeliness `user` may see."""
    if can_match(user):
        return restrict(Organization.objects.filter(programs__referrals__isnull=False).distinct(), user,
                        organization_field="pk")
    if is_coc_staff(user):
        return Organization.objects.none()
    return member_organizations(user)


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


@dataclass
class ProviderScore:
    """One housing provider on the CES team's scorecard."""

    organization: Organization
    open: int
    overdue: int
    months: list  # [(first day of month, changes, within standard)], oldest first

    @property
    def share(self) -> float | None:
        changes = sum(m[1] for m in self.months)
        return round(100 * sum(m[2] for m in self.months) / changes) if changes else None


def provider_scorecard(user, *, months: int = 3, now: dt.datetime | None = None) -> tuple[list, list]:
    """The CES team's view across providers: open and overdue referrals by
    agency, and per month the share of need-status changes made within the
    standard. Two aggregate queries and one for the agencies, whatever the
    number of providers or referrals."""
    now = now or timezone.now()
    today = calendar.local_date(now)
    firsts = [today.replace(day=1)]
    for _ in range(months - 1):
        firsts.insert(0, (firsts[0] - dt.timedelta(days=1)).replace(day=1))
    referrals = visible_referrals(user)
    open_counts = {row["program__organization"]: row for row in referrals.filter(is_open=True).values(
        "program__organization").annotate(open=Count("*"), overdue=Count("due_at", filter=Q(due_at__lte=now)))
        .order_by()}
    changes = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    rows = (ReferralTransition.objects.filter(
        referral__in=referrals, from_status__isnull=False, within_standard__isnull=False,
        made_at__gte=calendar.start_of_day(firsts[0]))
        .values_list("referral__program__organization", "made_at", "within_standard"))
    for organization_id, made_at, within in rows:
        bucket = changes[organization_id][calendar.local_date(made_at).replace(day=1)]
        bucket[0] += 1
        bucket[1] += bool(within)
    ids = set(open_counts) | set(changes)
    scores = [
        ProviderScore(organization, open_counts.get(organization.pk, {}).get("open", 0),
                      open_counts.get(organization.pk, {}).get("overdue", 0),
                      [(first, *changes[organization.pk][first]) for first in firsts])
        for organization in Organization.objects.filter(pk__in=ids).order_by("name")
    ]
    scores.sort(key=lambda s: (-s.overdue, s.organization.name))
    return scores, firsts


@dataclass
class HUDEventSummary:
    """What HUD's Event.csv of a date range holds and leaves out."""

    start: dt.date
    end: dt.date
    events: int
    no_enrollment_count: int
    no_enrollment: list  # the first referrals without a CE enrollment ID, oldest first
    no_event: list  # (program type name, referrals) of program types with no HUD referral event


def hud_event_summary(referrals, *, start=None, end=None, shown: int = 200) -> HUDEventSummary:
    """Four queries whatever the number of referrals: the program types'
    events, the counts, the first `shown` referrals left out for want of a
    CE enrollment ID, and the left-out program types."""
    from . import hud

    referrals, start, end = hud.in_range(referrals, start=start, end=end)
    codes = hud.event_codes()
    reported = referrals.filter(program__program_type_id__in=list(codes))
    counts = reported.aggregate(events=Count("pk", filter=~Q(ce_enrollment_id="")),
                                missing=Count("pk", filter=Q(ce_enrollment_id="")))
    missing = list(reported.filter(ce_enrollment_id="").select_related("program").order_by("referred_at", "id")
                   [:shown])
    no_event = list(referrals.exclude(program__program_type_id__in=list(codes))
                    .values_list("program__program_type__name").annotate(n=Count("pk"))
                    .order_by("program__program_type__name"))
    return HUDEventSummary(start, end, counts["events"], counts["missing"], missing, no_event)
