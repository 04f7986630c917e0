"""Home-page tasks for data partnerships (registered in `apps.py`, gathered by
hmis_portal.core.work), the agency's history and the links to its partnerships."""

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from accounts.access import (ED, agencies_where, can_see_agency_partnerships, is_coc_staff, own_active_access,
                             sees_every_partnership)
from hmis_portal.core.addresses import address
from hmis_portal.core.prepared import Param, Prepared, ask_count
from hmis_portal.core.registry import Link
from hmis_portal.core.work import OpenTask

from . import selectors
from .models import DataPartnership, IntakeBatch

# The batches of active partnerships that some partner agencies have yet to
# enter, by partnership, for the home page (its SQL built once).
_BATCHES_TO_ENTER = Prepared(lambda: (
    IntakeBatch.objects.filter(entered_at__isnull=True, partnership__partner_id__in=Param("partners", many=True),
                               partnership__status=DataPartnership.Status.ACTIVE)
    .values("partnership_id", "partnership__agency__name")
    .annotate(waiting=Count("pk"), overdue=Count("pk", filter=Q(due_at__lte=Param("now"))))
    .order_by("partnership__agency__name")[:20]))

# Proposals to agencies the person directs that someone else made, newest
# first, for the home page (its SQL built once).
_PROPOSED_TO = Prepared(lambda: (
    DataPartnership.objects.filter(status=DataPartnership.Status.PROPOSED, partner_id__in=Param("partners", many=True))
    .filter(Q(proposed_by__isnull=True) | ~Q(proposed_by_id=Param("user")))
    .values("pk", "agency__name")[:20]))


def open_tasks(user) -> list[OpenTask]:
    """What waits on the home page: proposals for a partner agency's
    Executive Director to decide, and intake batches a partner agency has
    yet to enter into HMIS (overdue ones first)."""
    if not user.is_authenticated:
        return []
    if sees_every_partnership(user):
        overdue = yield ask_count(IntakeBatch.objects.filter(
            entered_at__isnull=True, due_at__lte=timezone.now(), partnership__status=DataPartnership.Status.ACTIVE,
            partnership__in=selectors.visible_partnerships(user).values("pk")))
        if not overdue:
            return []
        return [OpenTask(f"{overdue} overdue intake batch{'es' if overdue != 1 else ''} across data partners",
                         address("partnerships:list"), section="Data partnerships", overdue=True)]
    if is_coc_staff(user):
        return []
    tasks = []
    # The person's agencies from their standing (read once per request): no
    # query at all for proposals when they direct no agency.
    directed = [organization.pk for organization in agencies_where(user, [ED])]
    now = timezone.now()
    if not agencies_where(user):
        return tasks
    # Batches wait on those who can enter them: granted, active HMIS access at
    # the partner agency (read once a request, with the agencies where the
    # person works referrals): no query for batches without it. Asked with
    # the proposals and the other to-dos' questions (core.work).
    proposed, (entering, _refers) = yield (_PROPOSED_TO.ask(partners=directed, user=user.pk) if directed else [],
                                           own_active_access(user))
    for row in proposed:
        tasks.append(OpenTask(f"Data partnership proposed by {row['agency__name']}: accept or decline",
                              address("partnerships:detail", row["pk"]), section="Data partnerships"))
    rows = (yield _BATCHES_TO_ENTER.ask(partners=entering, now=now)) if entering else []  # with the other to-dos' (core.work)
    for row in rows:
        url = address("partnerships:detail", row["partnership_id"])
        waiting, overdue = row["waiting"], row["overdue"]
        tasks.append(OpenTask(
            f"{waiting} intake batch{'es' if waiting != 1 else ''} from {row['partnership__agency__name']} "
            f"to enter into HMIS" + (f" ({overdue} overdue)" if overdue else ""),
            url, section="Data partnerships", overdue=bool(overdue)))
    return tasks


def agency_history_subjects(organization, user) -> list:
    """The agency's data partnerships, on either side, for those who may see them."""
    if not can_see_agency_partnerships(user, organization):
        return []
    return [DataPartnership.objects.filter(Q(agency=organization) | Q(partner=organization))]


def agency_links(organization, user) -> list[Link]:
    """The agency's page and its participation page link to its partnerships,
    for those the partnerships page serves."""
    if not can_see_agency_partnerships(user, organization):
        return []
    return [Link("Data partnerships (MOAs) and intakes entered into HMIS",
                 reverse("partnerships:agency", args=[organization.slug]))]


def instead_of_joining(organization) -> list[Link]:
    """An agency that sends its intakes to a data partner does not use HMIS:
    instead of joining it, it sends its intakes to the partner (or waits for
    the partner to accept). Nothing for an agency without such a partnership."""
    partnerships = (DataPartnership.objects.filter(agency=organization, status__in=DataPartnership.OPEN_STATUSES)
                    .select_related("partner").order_by("status", "pk"))  # active first
    links = []
    for partnership in partnerships:
        url = partnership.get_absolute_url()
        if partnership.status == DataPartnership.Status.ACTIVE:
            links.append(Link(f"Send your intakes to {partnership.partner}", url,
                              detail=f"Your agency does not use HMIS: {partnership.partner} enters your Coordinated "
                                     "Entry intakes into HMIS under your data partnership. Record each batch you "
                                     "send."))
        else:
            links.append(Link(f"Your data partnership with {partnership.partner} waits for its Executive Director",
                              url, detail="Your agency does not use HMIS; once the partner accepts, you send it your "
                                          "intakes to enter."))
    return links
