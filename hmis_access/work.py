"""Home-page tasks for access requests (hmis_portal.core.work)."""

from django.urls import reverse

from django.db.models import Count, Q

from accounts.access import agencies_where, approval_refusal, can_provision, can_work_access_approvals, is_coc_staff, restrict
from hmis_portal.core.addresses import address
from hmis_portal.core.dates import day_text
from hmis_portal.core.prepared import Param, Prepared
from hmis_portal.core.registry import Link
from hmis_portal.core.work import OpenTask

from .checklist import build_checklists
from .models import AccessPolicy, AccessRequest
from .provisioning import provisioning_queue

QUEUE_TASK_LIMIT = 20

# Open requests at some agencies, and whether one is the person's own, for
# an agency lead's home page (its SQL built once).
_OPEN_REQUEST_COUNTS = Prepared(lambda: (
    AccessRequest.objects.filter(status=AccessRequest.Status.OPEN)
    .filter(Q(organization_id__in=Param("organizations", many=True)) | Q(user_id=Param("user")))
    .values("organization_id")
    .annotate(n=Count("pk", filter=Q(organization_id__in=Param("organizations", many=True))),
              own=Count("pk", filter=Q(user_id=Param("user"))))
    .order_by()))


def open_tasks(user) -> list[OpenTask]:
    if not user.is_authenticated:
        return []
    tasks = []
    if is_coc_staff(user):
        if can_work_access_approvals(user):
            waiting = (restrict(AccessRequest.objects.filter(status=AccessRequest.Status.AWAITING_APPROVAL), user)
                       .select_related("user", "organization", "requested_by").order_by("created_at", "pk"))
            for request in waiting[:QUEUE_TASK_LIMIT]:
                if approval_refusal(user, request):
                    continue  # another staff member's to decide (their own agency's, or their own request)
                tasks.append(OpenTask(
                    title=f"Approve or decline HMIS access for {request.user} ({request.organization})",
                    url=address("access-approvals"), section="Access approvals",
                    detail=f"Requested by {request.requested_by or 'the agency'} on {day_text(request.created_at)}"))
        if can_provision(user):
            for entry in provisioning_queue(first=QUEUE_TASK_LIMIT):
                tasks.append(OpenTask(
                    title=f"Grant HMIS access to {entry.item.user} ({entry.item.organization})",
                    url=entry.admin_url, section="Provisioning", due=entry.due_at,
                    overdue=entry.overdue or entry.needs_attention,
                    detail=entry.attention
                    or f"{entry.kind.capitalize()}, ready since {day_text(entry.item.ready_at)}"))
        return tasks
    organizations = agencies_where(user, AccessPolicy.current().requester_personas)
    # One count for all the agencies the person asks access for (none: an
    # end user, an Executive Director where leads do not request), and
    # whether they have an open request of their own: its checklist is read
    # only then. (Asked with the other to-dos' questions: core.work.)
    rows = yield _OPEN_REQUEST_COUNTS.ask(organizations=[organization.pk for organization in organizations],
                                          user=user.pk)
    counts = {row["organization_id"]: row["n"] for row in rows}
    own = any(row["own"] for row in rows)
    mine = build_checklists(AccessRequest.objects.filter(status=AccessRequest.Status.OPEN, user=user)) if own else []
    for checklist in mine:
        # Counted: what the person does themself; what the agency or the CoC
        # must do is said as waiting on others.
        own, others = checklist.own_blockers, checklist.waiting_on_others
        waiting = ("Waiting on others: " + "; ".join(f"{item.label} ({item.waiting_on})" for item in others)
                   if others else "")
        if own:
            left = len(own)
            tasks.append(OpenTask(
                title=f"Finish your HMIS access checklist ({left} item{'s' if left != 1 else ''} left)",
                url=address("my-access"), section="HMIS access",
                detail=" ".join(filter(None, ["; ".join(item.label for item in own) + ".", waiting]))))
        elif others:
            tasks.append(OpenTask(title=f"Your HMIS access at {checklist.request.organization} waits on others",
                                  url=address("my-access"), section="Waiting on others", detail=waiting))
    for organization in organizations:
        waiting = counts.get(organization.pk, 0)
        if waiting:
            tasks.append(OpenTask(
                title=f"{waiting} user{'s' if waiting != 1 else ''} working through the HMIS access checklist",
                url=address("agency-users", organization.slug), section="HMIS access",
                detail=f"At {organization}: see who is waiting on what."))
    return tasks


# ---------------------------------------------------------------- an agency's pages (registered in apps.py)

def agency_history_subjects(organization, user) -> list:
    """The agency's access requests and HMIS accounts, for those who see its user access."""
    from accounts.access import can_see_user_access

    from .models import HMISAccount

    if not can_see_user_access(user, organization):
        return []
    return [AccessRequest.objects.filter(organization=organization),
            HMISAccount.objects.filter(organization=organization)]


def agency_step_three(organization):
    """(what is true now, whom it waits on, done) for the agency page's step 3."""
    from django.db.models import Count, Min, Q
    from django.template.defaultfilters import pluralize

    from hmis_portal.core.dates import deadline_text

    counts = AccessRequest.objects.filter(organization=organization).aggregate(
        awaiting=Count("pk", filter=Q(status=AccessRequest.Status.AWAITING_APPROVAL)),
        open=Count("pk", filter=Q(status=AccessRequest.Status.OPEN)),
        ready=Count("pk", filter=Q(status=AccessRequest.Status.READY)),
        granted=Count("pk", filter=Q(status=AccessRequest.Status.PROVISIONED)),
        due=Min("provisioning_due_at", filter=Q(status=AccessRequest.Status.READY)))
    if not (counts["awaiting"] or counts["open"] or counts["ready"] or counts["granted"]):
        return None
    parts = []
    if counts["awaiting"]:
        parts.append(f"{counts['awaiting']} request{pluralize(counts['awaiting'])} awaiting the CoC's approval")
    if counts["open"]:
        parts.append(f"{counts['open']} user{pluralize(counts['open'])} working through the checklist")
    if counts["ready"]:
        due = deadline_text(counts["due"])
        parts.append(f"{counts['ready']} ready for provisioning ({due[0].lower()}{due[1:]})")
    if counts["granted"]:
        parts.append(f"{counts['granted']} with HMIS access")
    waiting = ("the CoC's provisioning staff, to grant access" if counts["ready"]
               else "the users and their trainings and forms" if counts["open"]
               else "the CoC's provisioning staff, to approve the requests" if counts["awaiting"] else "")
    return "; ".join(parts), waiting, not counts["awaiting"] and not counts["open"] and not counts["ready"]


def agency_links(organization, user) -> list[Link]:
    """The agency's page links to its users' checklists, for those that page
    serves (its view's own predicate)."""
    from accounts.access import can_see_user_access

    if not can_see_user_access(user, organization):
        return []
    return [Link("HMIS users and their access checklists",
                 reverse("agency-users", kwargs={"slug": organization.slug}))]


def participation_links(organization, user) -> list[Link]:
    """Step 3 of the participation page links to the users' checklists."""
    from accounts.access import can_see_user_access

    if not can_see_user_access(user, organization):
        return []
    return [Link("Users and their access checklists", reverse("agency-users", kwargs={"slug": organization.slug}),
                 step=3)]
