"""Reads for steps 1 and 2, narrowed to what a person may see (STYLE §2, §4).

`agreement_executed` and `confirmed_programs` are what later steps ask (seed
000: "Step 1 and Step 2 must be completed prior to Step 3").
"""

from collections.abc import Generator
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, IntegerField, Min, OuterRef, Q, QuerySet, Window
from django.db.models.functions import Cast, RowNumber
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.urls import reverse

from accounts.access import (Work, access_requesters, agency_people, can_accept_join_requests, can_work_program_setup,
                             does, personas_by_organization, restrict)
from accounts.models import Organization, Persona
from hmis_portal.core import registry
from hmis_portal.core.calendar import BusinessCalendar, local_date
from hmis_portal.core.dates import day_text
from hmis_portal.core.prepared import Param, Prepared, answer_all, ask_built, totals

from .filtersets import StatusListFilter
from .models import (AgreementCopy, JoinRequest, OnboardingPolicy, OrganizationAgreement, OrganizationCESRole, ParticipationStage,
                     Program)


def executed_agreements(organization, *, on=None) -> QuerySet[OrganizationAgreement]:
    """The organization's agreements in force on `on` (today when omitted)."""
    day = on or local_date()
    return OrganizationAgreement.objects.filter(
        organization=organization, status=OrganizationAgreement.Status.EXECUTED
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=day))


def agreement_executed(organization, *, on=None) -> bool:
    """Step 1 is done: the organization has an executed, unexpired agreement."""
    return executed_agreements(organization, on=on).exists()


def participating_organizations(*, on=None) -> QuerySet[Organization]:
    """Organizations whose Organization Agreement is executed and in force on
    `on`: they participate in HMIS (and may enter data for a partner agency)."""
    day = on or local_date()
    in_force = OrganizationAgreement.objects.filter(status=OrganizationAgreement.Status.EXECUTED).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=day))
    return Organization.objects.filter(pk__in=in_force.values("organization"))


def referable_programs(*, on=None) -> QuerySet[Program]:
    """Programs that may receive CES referrals (SPEC §4): confirmed programs of
    agencies whose Organization Agreement is executed and in force."""
    day = on or local_date()
    in_force = OrganizationAgreement.objects.filter(status=OrganizationAgreement.Status.EXECUTED).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=day))
    return Program.objects.filter(setup_status=Program.SetupStatus.CONFIRMED,
                                  organization__in=in_force.values("organization"))


def referral_refusal(program, *, on=None) -> str:
    """Why `program` may not receive referrals ('' when it may)."""
    if program.setup_status != Program.SetupStatus.CONFIRMED:
        return (f"{program.name} cannot receive referrals: its HMIS setup is "
                f"{program.get_setup_status_display().lower()}, not confirmed by the agency.")
    if not agreement_executed(program.organization, on=on):
        return (f"{program.name} cannot receive referrals: {program.organization} has no executed Organization "
                "Agreement in force.")
    return ""


def confirmed_programs(organization) -> QuerySet[Program]:
    """Step 2's result: the organization's programs whose setup its Program Manager confirmed."""
    return Program.objects.filter(organization=organization, setup_status=Program.SetupStatus.CONFIRMED
                                  ).select_related("program_type")


def ces_roles(organization) -> QuerySet[OrganizationCESRole]:
    """The CES roles the organization plays (seed 000, step 2.3)."""
    return OrganizationCESRole.objects.filter(organization=organization).select_related("role")


def open_agreement(organization) -> OrganizationAgreement | None:
    """The agreement being worked on (draft, submitted or returned), if any."""
    return OrganizationAgreement.objects.filter(
        organization=organization, status__in=OrganizationAgreement.OPEN_STATUSES
    ).first()


def agreement_submitted(organization) -> bool:
    """A program setup request needs the agreement submitted at least (step 1 before step 2)."""
    return OrganizationAgreement.objects.filter(
        organization=organization,
        status__in=[OrganizationAgreement.Status.SUBMITTED, OrganizationAgreement.Status.EXECUTED],
    ).exists()


def stage_from(agreements, programs, *, today) -> ParticipationStage:
    """The derived stage from an organization's (prefetched) agreements and programs."""
    Status = OrganizationAgreement.Status
    in_force = any(a.in_force_on(today) for a in agreements)
    if in_force:
        if any(p.setup_status == Program.SetupStatus.CONFIRMED for p in programs):
            return ParticipationStage.PARTICIPATING
        if programs:
            return ParticipationStage.PROGRAM_SETUP
        return ParticipationStage.AGREEMENT_EXECUTED
    if any(a.status == Status.SUBMITTED for a in agreements):
        return ParticipationStage.AGREEMENT_SUBMITTED
    if any(a.status == Status.RETURNED for a in agreements):
        return ParticipationStage.AGREEMENT_RETURNED
    ended = [a for a in agreements if a.status in (Status.EXPIRED, Status.TERMINATED)
             or (a.status == Status.EXECUTED and not a.in_force_on(today))]
    if ended:
        # The latest to end says how participation ended.
        latest = max(ended, key=lambda a: (a.status_changed_at, a.pk))
        return (ParticipationStage.AGREEMENT_TERMINATED if latest.status == Status.TERMINATED
                else ParticipationStage.AGREEMENT_EXPIRED)
    if any(a.status == Status.DRAFT for a in agreements):
        return ParticipationStage.AGREEMENT_DRAFT
    return ParticipationStage.NOT_STARTED


def participation_stage(organization, *, on=None) -> ParticipationStage:
    return stage_from(list(organization.agreements.all()), list(organization.programs.all()),
                      today=on or local_date())


def access_agreement(user, pk) -> OrganizationAgreement:
    """The agreement if `user` may see its organization's objects; 404 otherwise."""
    return get_object_or_404(
        restrict(OrganizationAgreement.objects.select_related("organization"), user), pk=pk
    )


def access_program(user, pk) -> Program:
    return get_object_or_404(
        restrict(Program.objects.select_related("organization", "program_type"), user), pk=pk
    )


def agreement_copies(agreement) -> QuerySet[AgreementCopy]:
    return agreement.copies.select_related("uploaded_by").order_by("-version")


def organization_agreements(organization) -> QuerySet[OrganizationAgreement]:
    """The agency's agreements, newest first, each with its `copy_count`."""
    return organization.agreements.select_related("countersigned_by").annotate(copy_count=Count("copies"))


def program_summaries(organization) -> QuerySet[Program]:
    """All the agency's programs by name, in the columns its participation
    page reads (the stage, the progress, the tasks and a page of the table)."""
    return (organization.programs.select_related("program_type").order_by("name", "pk")
            .only("organization_id", "name", "setup_status", "status_changed_at", "question",
                  "program_type__name"))


# --- the CES Participation Status List ----------------------------------------------------------------------------
#
# Read as plain values (no model instances): a page is two small queries and
# a loop, and a download of every agency is read in bounded
# chunks of agencies, so its memory does not grow with the list.

@dataclass(frozen=True, slots=True)
class AgreementFacts:
    """The columns of an agreement that its organization's stage is derived
    from (`stage_from`), with the model's own `is_open` and `in_force_on`."""

    pk: int
    status: str
    expires_on: object
    status_changed_at: object

    Status = OrganizationAgreement.Status
    OPEN_STATUSES = OrganizationAgreement.OPEN_STATUSES
    is_open = OrganizationAgreement.is_open
    in_force_on = OrganizationAgreement.in_force_on


@dataclass(frozen=True, slots=True)
class ProgramFacts:
    """A program as the list shows it and its stage reads it."""

    name: str
    program_type: str  # the program type's name
    setup_status: str

    @property
    def setup_status_label(self) -> str:
        return Program.SetupStatus(self.setup_status).label


@dataclass(slots=True)
class StatusRow:
    pk: int
    name: str
    slug: str
    stage: ParticipationStage
    roles: list  # the CES roles' names, in the CoC's order
    programs: list  # ProgramFacts by name
    agreement: AgreementFacts | None  # the most relevant one: open, else in force, else latest

    @property
    def stage_label(self) -> str:
        return self.stage.label

    @property
    def agreement_label(self) -> str:
        return OrganizationAgreement.Status(self.agreement.status).label if self.agreement else "No agreement"


def _headline_agreement(agreements, today):
    open_ = [a for a in agreements if a.is_open]
    if open_:
        return open_[0]
    in_force = [a for a in agreements if a.in_force_on(today)]
    if in_force:
        return in_force[0]
    return agreements[0] if agreements else None


def _status_organizations(organizations) -> QuerySet:
    """The filtered `organizations` by name, as (pk, name, slug)."""
    return organizations.order_by("name", "pk").values_list("pk", "name", "slug")


def _grouped(rows) -> dict:
    """{organization id: [the rest of each row's values]}, in the rows' order."""
    found = {}
    for row in rows:
        organization_id, *rest = row.values()
        found.setdefault(organization_id, []).append(rest)
    return found


def _agreements_of(organizations):
    return OrganizationAgreement.objects.filter(organization_id__in=organizations).order_by("-created_at", "-id").values(
        "organization_id", "id", "status", "expires_on", "status_changed_at")


def _programs_of(organizations):
    return Program.objects.filter(organization_id__in=organizations).order_by("name", "pk").values(
        "organization_id", "name", "program_type__name", "setup_status")


def _roles_of(organizations):
    return OrganizationCESRole.objects.filter(organization_id__in=organizations).order_by(
        "role__sort_order", "role__name").values("organization_id", "role__name")


# A page's or a chunk's agreements, programs and CES roles: the same three
# queries each time with other agencies' ids, compiled once (`core.prepared`).
_STATUS_AGREEMENTS = Prepared(lambda: _agreements_of(Param("organizations", many=True)))
_STATUS_PROGRAMS = Prepared(lambda: _programs_of(Param("organizations", many=True)))
_STATUS_ROLES = Prepared(lambda: _roles_of(Param("organizations", many=True)))


def _status_rows(organizations, *, stage: str, today) -> list[StatusRow]:
    """The rows of `organizations` ((pk, name, slug), in order): their
    agreements, programs and roles in one round trip on PostgreSQL (three
    queries elsewhere), whatever their number."""
    organizations = list(organizations)
    if not organizations:
        return []
    ids = [pk for pk, _, _ in organizations]
    # Asked together: one round trip on PostgreSQL (`answer_all`).
    agreements, programs, roles = answer_all([
        _STATUS_AGREEMENTS.ask(organizations=ids), _STATUS_PROGRAMS.ask(organizations=ids),
        _STATUS_ROLES.ask(organizations=ids)])
    return _rows(organizations, agreements, programs, roles, stage=stage, today=today)


def _rows(organizations, agreements, programs, roles, *, stage: str, today) -> list[StatusRow]:
    """The rows of `organizations` ((pk, name, slug), in order) from their
    agreements', programs' and roles' rows, at `stage` (any when empty)."""
    agreements, programs, roles = _grouped(agreements), _grouped(programs), _grouped(roles)
    rows = []
    for pk, name, slug in organizations:
        its_agreements = [AgreementFacts(*values) for values in agreements.get(pk, ())]
        its_programs = [ProgramFacts(*values) for values in programs.get(pk, ())]
        row_stage = stage_from(its_agreements, its_programs, today=today)
        if stage and row_stage != stage:
            continue
        rows.append(StatusRow(pk=pk, name=name, slug=slug, stage=row_stage,
                              roles=[role_name for (role_name,) in roles.get(pk, ())], programs=its_programs,
                              agreement=_headline_agreement(its_agreements, today)))
    return rows


# Agencies read at a time for the whole list (the downloads): a list of a
# thousand or two in one chunk (two queries), a bigger one in bounded steps.
STATUS_CHUNK = 2000


def iter_status_list(*, organizations: QuerySet, stage: str = "", today=None):
    """Every row of `organizations` (the list's filters applied, `status_filters`)
    at `stage` (any when empty), by name: `chunk` organizations at a time
    (`STATUS_CHUNK`, by name and id, from where the last chunk ended), so a
    download of thousands keeps only a chunk in memory. Two queries a chunk."""
    today = today or local_date()
    chunk = STATUS_CHUNK
    organizations = _status_organizations(organizations)
    after = None
    while True:
        page = organizations if after is None else organizations.filter(
            Q(name__gt=after[1]) | Q(name=after[1], pk__gt=after[0]))
        found = list(page[:chunk])
        yield from _status_rows(found, stage=stage, today=today)
        if len(found) < chunk:
            return
        after = found[-1]


def status_list(*, organizations: QuerySet, stage: str = "", today=None) -> list[StatusRow]:
    """Every organization with its CES roles, programs and stage, filtered."""
    return list(iter_status_list(organizations=organizations, stage=stage, today=today))


def _page_of(organizations: QuerySet, after, until) -> QuerySet:
    """(pk, name, slug, how many there are in all) of `organizations` placed
    after `after` and up to `until` by name: a page and the list's count in
    one query. The places are numbered in the query, not sliced, so that the
    list of every agency (the page most asked for) is the same statement for
    every page, compiled once (`_EVERY_ORGANIZATION`)."""
    return organizations.annotate(
        place=Window(RowNumber(), order_by=(F("name").asc(), F("pk").asc())), counted=Window(Count("pk"))).filter(
        place__gt=after, place__lte=until).order_by("name", "pk").values_list("pk", "name", "slug", "counted")


_EVERY_ORGANIZATION = Prepared(lambda: _page_of(Organization.objects.all(), Cast(Param("after"), IntegerField()),
                                                Cast(Param("until"), IntegerField())))


def status_list_page(*, organizations: QuerySet, number, per_page: int, stage: str = "", today=None) -> Page:
    """One page of `status_list`: the page's organizations, counted in the
    query that reads them, and their rows in one more round trip (a count of
    its own only for a page past the last), unless a stage is chosen, which
    is known only row by row."""
    today = today or local_date()
    if stage:
        return Paginator(status_list(organizations=organizations, stage=stage, today=today), per_page).get_page(number)
    organizations = organizations.order_by("name", "pk")
    paginator = Paginator(organizations, per_page)
    number = page_number(number)
    found = []
    if number > _PAGES_READ // per_page:
        number = 0  # past any list's last page (and any place the database counts to): read nothing, count
    if number >= 1:
        after, until = (number - 1) * per_page, number * per_page
        # Every agency: the statement kept; filtered, the query is built for the filters.
        found = ([tuple(row.values()) for row in _EVERY_ORGANIZATION(after=after, until=until)]
                 if every_organization(organizations=organizations, stage=stage) else
                 list(_page_of(organizations, after, until)))
        if found or number == 1:
            paginator.count = found[0][3] if found else 0
    page = paginator.get_page(number)
    page.object_list = _status_rows([row[:3] for row in found] if found else
                                    page.object_list.values_list("pk", "name", "slug"), stage="", today=today)
    return page


# Places in the list beyond any agency's (a page asked past them is past the last).
_PAGES_READ = 2**31


def every_organization(*, organizations: QuerySet, stage: str) -> bool:
    """Whether the list's filters (`status_filters`) keep every agency: the
    list most asked for, the same for everyone who may see it."""
    return not stage and not organizations.query.where


def page_number(number) -> int:
    """The page `Paginator.get_page` reads in `number`: a whole number, or
    the first page for anything else (below 1, it gives the last)."""
    try:
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        return int(number)
    except (TypeError, ValueError):
        return 1


def status_filters(data) -> tuple[QuerySet, str]:
    """The organizations the list's filters keep and the stage (derived row
    by row, applied by the rows), from a query string, read once for the page
    or a download (`StatusListFilter.cleaned`, `applied`). Filters that do not
    validate keep every organization, at any stage. A download reads its rows
    after the view returns, so what it needs of the filters is read here, not
    again while the file is sent."""
    values = StatusListFilter.cleaned(data)
    if values is None:
        return Organization.objects.all(), ""
    return StatusListFilter.applied(Organization.objects.all(), values), values.get("stage", "")


# --- queues: what waits on whom, with age in business days ---------------------------------------------------------

@dataclass
class QueueItem:
    obj: object
    title: str
    since: object
    age: int  # business days waiting


def _aged(objects, title, calendar, today):
    return [QueueItem(obj=o, title=title(o), since=o.status_changed_at,
                      age=calendar.business_days_between(local_date(o.status_changed_at), today)) for o in objects]


def _coc_work(user) -> dict[str, QuerySet]:
    """What waits on CoC staff, by kind, as far as this person does it."""
    work = {}
    if can_accept_join_requests(user):
        work["join_requests"] = JoinRequest.objects.filter(status=JoinRequest.Status.REQUESTED)
    if does(user, Work.COUNTERSIGN):
        work["agreements"] = restrict(OrganizationAgreement.objects.filter(
            status=OrganizationAgreement.Status.SUBMITTED).select_related("organization"), user)
    if can_work_program_setup(user):
        work["programs"] = restrict(Program.objects.filter(setup_status__in=Program.COC_STATUSES)
                                    .select_related("organization", "program_type"), user)
    return work


QUEUE_TITLES = {
    "join_requests": lambda j: f"{j.organization_name} — request to join",
    "agreements": lambda a: f"{a.organization} — Organization Agreement",
    "programs": lambda p: f"{p.organization} — {p.name} ({p.program_type})",
}


def coc_queue(user, *, today=None) -> dict[str, list[QueueItem]]:
    """What waits on CoC staff: agreements to countersign and program setup
    requests, oldest first, each with its age in business days."""
    today = today or local_date()
    calendar = BusinessCalendar.load()
    queue = {"agreements": [], "programs": [], "join_requests": []}
    for key, waiting in _coc_work(user).items():
        queue[key] = _aged(waiting.order_by("status_changed_at"), QUEUE_TITLES[key], calendar, today)
    return queue


def coc_queue_counts(user, *, today=None) -> Generator[tuple, tuple, dict[str, tuple[int, int]]]:
    """For the home page: (how many, the oldest's age in business days) of each
    kind of work in `coc_queue`, one aggregate each whatever the queue's length,
    asked with the other to-dos' questions (`prepared.answer_all`)."""
    today = today or local_date()
    work = _coc_work(user)
    found = yield tuple(ask_built(totals(waiting.select_related(None), n=Count("pk"), oldest=Min("status_changed_at")))
                        for waiting in work.values())
    counts = {}
    calendar = None
    for key, (row,) in zip(work, found):
        if row["n"]:
            calendar = calendar or BusinessCalendar.load()
            counts[key] = (row["n"], calendar.business_days_between(local_date(row["oldest"]), today))
    return counts


# What a Program Manager does about a program in each setup status (the home
# page's wording for one program, and for several).
WAITING_ON_PROGRAM_MANAGER = {
    Program.SetupStatus.NEEDS_INFORMATION: ("Answer the implementation team about {}",
                                            "Answer the implementation team about {} programs"),
    Program.SetupStatus.SETUP_COMPLETE: ("Confirm the setup of {}", "Confirm the setup of {} programs"),
}


def agency_queue(user, *, today=None) -> Generator[tuple, tuple, list[dict]]:
    """What waits on agency staff in steps 1–2, by persona, for the home page:
    its questions yielded to be asked with the other to-dos'
    (`prepared.answer_all`; `prepared.answer(agency_queue(user))` alone)."""
    today = today or local_date()
    items = []
    personas_by_org = personas_by_organization(user)
    if not personas_by_org:
        return items
    calendar = BusinessCalendar.load()
    policy = OnboardingPolicy.current()
    # Every agency's agreements in one query, and the programs' counts and
    # CES roles of those where the person is a Program Manager in another,
    # whatever the number of agencies (their SQL built once).
    agreements = {organization.pk: [] for organization in personas_by_org}
    managed = [organization.pk for organization, personas in personas_by_org.items()
               if Persona.PROGRAM_MANAGER in personas]
    agreement_rows, fact_rows = yield (_AGREEMENTS.ask(organizations=list(agreements)),
                                       _PROGRAM_FACTS.ask(organizations=managed) if managed else [])
    for row in agreement_rows:
        agreements[row["organization_id"]].append(
            OrganizationAgreement.from_db("default", _AGREEMENT_FIELDS, [row[name] for name in _AGREEMENT_FIELDS]))
    facts = {row["pk"]: row for row in fact_rows}
    for organization, personas in personas_by_org.items():
        known = facts.get(organization.pk)
        program_counts = None if known is None else (
            {status: known[status.value] for status in WAITING_ON_PROGRAM_MANAGER}, known["program_count"] > 0)
        items += organization_queue(organization, personas, agreements[organization.pk], today=today,
                                    calendar=calendar, policy=lambda: policy, program_counts=program_counts,
                                    has_roles=None if known is None else known["has_roles"])
    return items


_AGREEMENT_FIELDS = [field.attname for field in OrganizationAgreement._meta.concrete_fields]
_AGREEMENTS = Prepared(lambda: OrganizationAgreement.objects.filter(
    organization_id__in=Param("organizations", many=True)).order_by("-created_at", "-id").values(*_AGREEMENT_FIELDS))
_PROGRAM_FACTS = Prepared(lambda: Organization.objects.filter(pk__in=Param("organizations", many=True)).values("pk")
                          .annotate(has_roles=Exists(OrganizationCESRole.objects.filter(organization=OuterRef("pk"))),
                                    program_count=Count("programs"),
                                    **{status.value: Count("programs", filter=Q(programs__setup_status=status))
                                       for status in WAITING_ON_PROGRAM_MANAGER})
                          .order_by())


def organization_queue(organization, personas, agreements, *, today, calendar=None, policy=None,
                       programs=None, has_roles=None, program_counts=None) -> list[dict]:
    """`agency_queue` at one agency for someone with `personas` there, from
    its agreements (newest first). A page that already holds all the agency's
    `programs` and whether it `has_roles` passes them, and asks no more of
    the programs (or their `program_counts`: those of the statuses waiting on
    a Program Manager, and whether it has any program); without a `calendar`
    the items' ages are left out.
    `policy`: a function giving the onboarding policy, asked only for a
    renewal reminder."""
    items = []
    policy = policy or OnboardingPolicy.current
    open_ = next((a for a in agreements if a.is_open), None)
    in_force = next((a for a in agreements if a.in_force_on(today)), None)

    def add(title, url, since=None, detail="", due=None):
        age = calendar.business_days_between(local_date(since), today) if since and calendar else None
        items.append({"organization": organization, "title": title, "url": url, "age": age,
                      "detail": detail, "due": due})

    if Persona.EXECUTIVE_DIRECTOR in personas:
        upload = reverse("onboarding:agreement-upload", args=[organization.slug])
        if open_ and open_.status == OrganizationAgreement.Status.RETURNED:
            add("Upload a corrected Organization Agreement", reverse("onboarding:agreement-detail",
                args=[open_.pk]), open_.status_changed_at, detail=f"Returned: {open_.return_reason}")
        elif open_ and open_.status == OrganizationAgreement.Status.DRAFT:
            add("Submit your Organization Agreement", reverse("onboarding:agreement-detail", args=[open_.pk]),
                open_.status_changed_at)
        elif not open_ and not in_force:
            # Asked only here (an agency that has not joined): an agency whose
            # intakes a data partner enters is told what it does instead.
            instead = registry.instead_of_joining.gather(organization)
            for link in instead:
                add(link.text, link.url, detail=link.detail)
            if not instead:
                add("Sign and upload the Organization Agreement", upload,
                    detail="Step 1 of joining HMIS for CES.")
        elif not open_ and in_force and in_force.expires_on:
            reminder_days = policy().reminder_days
            if reminder_days and (in_force.expires_on - today).days <= max(reminder_days):
                add("Renew the Organization Agreement", upload, due=in_force.expires_on,
                    detail=f"The current agreement ends {day_text(in_force.expires_on)}.")
    if Persona.PROGRAM_MANAGER in personas:
        submitted = in_force or any(a.status == OrganizationAgreement.Status.SUBMITTED for a in agreements)
        if submitted and not (organization.ces_roles.exists() if has_roles is None else has_roles):
            add("Name the organization's CES roles", reverse("onboarding:ces-roles", args=[organization.slug]))
        # One program is named; several are summed up (the agency's
        # participation page lists them): the same few queries and lines
        # whatever the number of programs.
        if program_counts is not None:
            counts, has_programs = program_counts
        elif programs is None:
            # The counts of every status say too whether the agency has programs at all.
            counts = dict(organization.programs.values_list("setup_status").annotate(n=Count("pk")).order_by())
            has_programs = bool(counts)
        else:
            counts = {status: sum(1 for p in programs if p.setup_status == status)
                      for status in WAITING_ON_PROGRAM_MANAGER}
            has_programs = bool(programs)
        if submitted and not has_programs:
            add("Request HMIS program setup", reverse("onboarding:program-request", args=[organization.slug]))
        waiting = [status for status in WAITING_ON_PROGRAM_MANAGER if counts.get(status)]
        if programs is None:
            # The program waiting longest in each status, all in one query.
            firsts = Q(pk__in=[])
            for status in waiting:
                firsts |= Q(pk__in=organization.programs.filter(setup_status=status)
                            .order_by("status_changed_at", "pk").values("pk")[:1])
            oldest_of = {program.setup_status: program
                         for program in (Program.objects.filter(firsts) if waiting else [])}
        else:
            oldest_of = {status: min((p for p in programs if p.setup_status == status),
                                     key=lambda p: (p.status_changed_at, p.pk)) for status in waiting}
        for status, (one, several) in WAITING_ON_PROGRAM_MANAGER.items():
            if status not in waiting:
                continue
            oldest = oldest_of[status]
            if counts[status] == 1:
                add(one.format(oldest.name), reverse("onboarding:program-detail", args=[oldest.pk]),
                    oldest.status_changed_at,
                    detail=oldest.question if status == Program.SetupStatus.NEEDS_INFORMATION else "")
            else:
                add(several.format(counts[status]),
                    reverse("onboarding:participation", args=[organization.slug]) + "#step2-heading",
                    oldest.status_changed_at, detail=f"Waiting longest: {oldest.name}.")
    return items


def access_join_request(user, pk) -> JoinRequest:
    """A request to join: for those who decide on them (403 for other people)."""
    from accounts.access import require

    require(can_accept_join_requests(user), "Only the CoC's implementation team decides on requests to join.")
    return get_object_or_404(JoinRequest.objects.select_related("organization", "decided_by"), pk=pk)


# --- an agency's progress through steps 1 → 2 → 3 ---------------------------------------------------------------

@dataclass
class StepProgress:
    number: int
    title: str
    done: bool
    state: str          # what is true now
    waiting_on: str = ""  # whom the next move waits on, by name where the agency has one
    since: object = None


def _names_of(organization, persona, people=None) -> str:
    from accounts.access import agency_people

    if people is None:
        people = list(agency_people(organization, [persona]))
    else:
        people = [person for person, personas in people if person.is_active and persona in personas]
    label = Persona(persona).label.split(" /")[0]
    if not people:
        return f"the agency's {label} (nobody has this role yet)"
    return f"the {label}, " + ", ".join(p.full_name or p.email for p in people)


# Programs named in a step's summary; more are counted ("and 12 more").
NAMED_PROGRAMS = 3


def _program_names(programs) -> str:
    names = ", ".join(p.name for p in programs[:NAMED_PROGRAMS])
    more = len(programs) - NAMED_PROGRAMS
    return f"{names} and {more} more" if more > 0 else names


def progress(organization, agreements, programs, *, today, people=None) -> list[StepProgress]:
    """Steps 1–3 as done / waiting on whom, from the (prefetched) agreements
    and programs, and `people`: the agency's people with their personas
    ((user, personas) pairs, its leads among them) when the page has them."""
    Status = OrganizationAgreement.Status

    def _names(organization, persona):
        return _names_of(organization, persona, people)

    ed, pm = Persona.EXECUTIVE_DIRECTOR, Persona.PROGRAM_MANAGER
    in_force = next((a for a in agreements if a.in_force_on(today)), None)
    open_ = next((a for a in agreements if a.is_open), None)
    if in_force and not (open_ and open_.status == Status.RETURNED):
        step1 = StepProgress(1, "Organization Agreement", True, "Executed", since=in_force.countersigned_at)
    elif open_ and open_.status == Status.SUBMITTED:
        step1 = StepProgress(1, "Organization Agreement", False, "Submitted",
                             "the CoC's implementation team, to countersign it", open_.status_changed_at)
    elif open_ and open_.status == Status.RETURNED:
        step1 = StepProgress(1, "Organization Agreement", False,
                             "Returned — waiting on the Executive Director to upload a corrected copy",
                             _names(organization, ed), open_.status_changed_at)
    elif open_:
        step1 = StepProgress(1, "Organization Agreement", False, "Draft, not yet submitted",
                             _names(organization, ed), open_.status_changed_at)
    else:
        step1 = StepProgress(1, "Organization Agreement", False, "Not signed yet", _names(organization, ed))
    confirmed = [p for p in programs if p.setup_status == Program.SetupStatus.CONFIRMED]
    with_coc = [p for p in programs if p.setup_status in Program.COC_STATUSES]
    with_agency = [p for p in programs if p.setup_status in Program.AGENCY_STATUSES]
    submitted = in_force is not None or (open_ is not None and open_.status == Status.SUBMITTED)
    if confirmed and not with_coc and not with_agency:
        step2 = StepProgress(2, "HMIS program setup", True, f"{len(confirmed)} program{pluralize(len(confirmed))} "
                                                           "confirmed")
    elif with_agency:
        step2 = StepProgress(2, "HMIS program setup", False, _program_names(with_agency),
                             _names(organization, pm), min(p.status_changed_at for p in with_agency))
    elif with_coc:
        step2 = StepProgress(2, "HMIS program setup", False, _program_names(with_coc),
                             "the CoC's implementation team, to set the programs up",
                             min(p.status_changed_at for p in with_coc))
    elif submitted:
        step2 = StepProgress(2, "HMIS program setup", False, "No program requested yet", _names(organization, pm))
    else:
        step2 = StepProgress(2, "HMIS program setup", False,
                             "Can start once the Organization Agreement is submitted", _names(organization, ed))
    if not (in_force and confirmed):
        return [step1, step2, StepProgress(3, "Users, training and HMIS access", False,
                                           "Can start once steps 1 and 2 are done")]

    def requesters():
        # Who asks for access is the CoC's access policy (seed 003: the
        # Authorized Representative); read only when step 3 waits on them.
        return " or ".join(_names(organization, p) for p in access_requesters())

    step3 = None
    # Step 3 belongs to a later app, which reports it through the
    # registry (`registry.agency_step_three`) rather than being imported here.
    for report in registry.agency_step_three:
        summary = report(organization)
        if summary:
            state, waiting_on, done = summary
            step3 = StepProgress(3, "Users, training and HMIS access", done, state, waiting_on or requesters())
    if step3 is None:
        step3 = StepProgress(3, "Users, training and HMIS access", False,
                             "Identify users; they train, sign their forms and get HMIS access", requesters())
    return [step1, step2, step3]


def current_agreement_template():
    from .models import AgreementTemplate

    return AgreementTemplate.current()


def personas_told(organization: Organization, personas) -> list[str]:
    """The labels of those of `personas` the agency's active people hold, in
    the order given, for a message that says who was told: the people a notice
    to `personas` went to, not personas the agency lacks."""
    return [Persona(persona).label for persona in personas if agency_people(organization, [persona]).exists()]
