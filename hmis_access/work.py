"""Home-page tasks for access requests (hmis_portal.core.work)."""

from django.urls import reverse

from accounts.access import (approval_refusal, can_provision, can_work_access_approvals, is_coc_staff,
                             organizations_where, restrict)
from hmis_portal.core.dates import day_text
from hmis_portal.core.work import OpenTask

from .checklist import build_checklists
from .models import AccessPolicy, AccessRequest
from .provisioning import provisioning_queue

QUEUE_TASK_LIMIT = 20


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
                    url=reverse("access-approvals"), section="Access approvals",
                    detail=f"Requested by {request.requested_by or 'the agency'} on {day_text(request.created_at)}"))
        if can_provision(user):
            for entry in provisioning_queue()[:QUEUE_TASK_LIMIT]:
                tasks.append(OpenTask(
                    title=f"Grant HMIS access to {entry.item.user} ({entry.item.organization})",
                    url=entry.admin_url, section="Provisioning", due=entry.due_at, overdue=entry.overdue,
                    detail=f"{entry.kind.capitalize()}, ready since {day_text(entry.item.ready_at)}"))
        return tasks
    mine = AccessRequest.objects.filter(user=user, status=AccessRequest.Status.OPEN)
    for checklist in build_checklists(mine):
        left = len(checklist.blockers)
        tasks.append(OpenTask(title=f"Finish your HMIS access checklist ({left} item{'s' if left != 1 else ''} left)",
                              url=reverse("my-access"), section="HMIS access", detail=checklist.blocker_text))
    for organization in organizations_where(user, AccessPolicy.current().requester_personas).order_by("name", "pk"):
        waiting = AccessRequest.objects.filter(organization=organization, status=AccessRequest.Status.OPEN).count()
        if waiting:
            tasks.append(OpenTask(
                title=f"{waiting} user{'s' if waiting != 1 else ''} working through the HMIS access checklist",
                url=reverse("agency-users", kwargs={"slug": organization.slug}), section="HMIS access",
                detail=f"At {organization}: see who is waiting on what."))
    return tasks
