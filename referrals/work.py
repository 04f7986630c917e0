"""Home-page tasks for CES referrals (registered in `apps.py`, gathered by hmis_portal.core.work)."""

from django.db.models import Count, Q
from django.utils import timezone

from accounts.access import agencies_where, can_match, is_coc_staff, own_active_access, referral_lead_agency_ids
from hmis_portal.core.addresses import address
from hmis_portal.core.prepared import Param, Prepared, ask_count
from hmis_portal.core.work import OpenTask

from . import selectors
from .models import NeedStatus, Referral

# The open referrals of some agencies' programs, counted for the home page
# by agency (a program is one agency's: the agencies' counts add up).
_OPEN_REFERRAL_COUNTS = Prepared(lambda: (
    Referral.objects.filter(is_open=True, program__organization_id__in=Param("agencies", many=True))
    .values("program__organization_id")
    .annotate(late_programs=Count("program_id", filter=Q(due_at__lte=Param("now")), distinct=True),
              overdue=Count("pk", filter=Q(due_at__lte=Param("now"))),
              waiting=Count("pk", filter=Q(status__is_initial=True)))
    .order_by()))
# The need status a new referral starts in: the list of those awaiting a response.
_INITIAL_STATUS = Prepared(lambda: NeedStatus.objects.filter(is_initial=True).values("pk")[:1])


def open_tasks(user) -> list[OpenTask]:
    """What waits on the home page (seed 001: "Receive referrals through
    Counts Reports"), summarized whatever the number of programs: for a
    provider, how many programs have overdue referrals and how many new
    referrals await a response; for the CES team, overdue referrals and
    returned clients. The counts report has the detail."""
    if not user.is_authenticated or (is_coc_staff(user) and not can_match(user)):
        return []
    now = timezone.now()
    list_url = address("referrals:list")
    tasks = []
    if can_match(user):
        # Counted over the referrals the person may see, asked with the other to-dos' (core.work).
        overdue, returned = yield (ask_count(selectors.overdue_referrals(user, now=now).select_related(None)),
                                   ask_count(selectors.returned_for_rereferral(user)))
        if overdue:
            tasks.append(OpenTask(f"{overdue} overdue referral{'s' if overdue != 1 else ''} across providers",
                                  address("referrals:overdue"), section="CES referrals", overdue=True))
        if returned:
            tasks.append(OpenTask(f"{returned} client{'s' if returned != 1 else ''} returned for re-referral",
                                  f"{list_url}?queue=returned", section="CES referrals"))
        return tasks
    # Who works referrals is told of the overdue ones and those awaiting a
    # response, with the list; an agency's Program Manager without client
    # data (SPEC §4) of the overdue ones by the numbers, with the counts report.
    # The agencies where the person works referrals come with those where
    # they enter intakes (one question a request); `sees_client_data` is true
    # for an agency person exactly when there is one. The counts (a row an
    # agency, on the counts report's index, whatever the number of programs
    # or referrals; their SQL built once, core.prepared) and where the list
    # of new ones starts are asked with the other to-dos' questions: for a
    # lead, in the same round trip as where they work referrals, over all
    # their agencies, since either those or the ones they lead are counted.
    leads = referral_lead_agency_ids(user)
    ahead = [organization.pk for organization in agencies_where(user)] if leads else []
    (_entering, agencies), by_agency, initial = yield (
        own_active_access(user), _OPEN_REFERRAL_COUNTS.ask(agencies=ahead, now=now) if ahead else None,
        _INITIAL_STATUS.ask() if ahead else None)
    works = bool(agencies)
    if not works:
        agencies = leads
        if not agencies:
            return tasks
    if by_agency is None or not set(agencies) <= set(ahead):
        by_agency, initial = yield (_OPEN_REFERRAL_COUNTS.ask(agencies=list(agencies), now=now),
                                    _INITIAL_STATUS.ask())
    counted = [row for row in by_agency if row["program__organization_id"] in agencies]
    late_programs, overdue, waiting = (sum(row[name] for row in counted)
                                       for name in ("late_programs", "overdue", "waiting"))
    if late_programs:
        tasks.append(OpenTask(
            f"{late_programs} program{'s have' if late_programs != 1 else ' has'} overdue referrals "
            f"({overdue} in all)", f"{list_url}?due=overdue" if works else address("referrals:counts"),
            section="CES referrals", overdue=True))
    if waiting and works:
        tasks.append(OpenTask(
            f"{waiting} new referral{'s' if waiting != 1 else ''} awaiting your response",
            f"{list_url}?status={initial[0]['pk'] if initial else None}", section="CES referrals"))
    return tasks
