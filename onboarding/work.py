"""Home-page tasks for steps 1–2 (registered in `apps.py`, gathered by
hmis_portal.core.work), and the agency's history for those who may read it."""

from django.template.defaultfilters import pluralize
from django.urls import reverse

from accounts.access import can_read_agreements, is_coc_staff
from hmis_portal.core.addresses import address
from hmis_portal.core.registry import Link
from hmis_portal.core.work import OpenTask

from . import selectors
from .models import OrganizationAgreement, Program


def open_tasks(user) -> list[OpenTask]:
    """Steps 1–2 work that waits on this person, for the home page."""
    if not user.is_authenticated:
        return []
    if is_coc_staff(user):
        counts = yield from selectors.coc_queue_counts(user)  # asked with the other to-dos' (core.work)
        tasks = []
        for key, one, several in (("join_requests", "request to join", "requests to join"),
                                  ("agreements", "Organization Agreement", "Organization Agreements"),
                                  ("programs", "program setup request", "program setup requests")):
            if key in counts:
                waiting, oldest = counts[key]
                rest = {"join_requests": "to accept or decline", "agreements": "to countersign"}.get(key, "to work")
                tasks.append(OpenTask(title=f"{waiting} {one if waiting == 1 else several} {rest}",
                                      url=address("onboarding:coc-queue"), section="Onboarding",
                                      detail=f"Oldest waiting {oldest} business day{pluralize(oldest)}."))
        return tasks
    # Its questions asked with the other to-dos' (core.work).
    items = yield from selectors.agency_queue(user)
    return [
        OpenTask(title=f"{item['title']} — {item['organization']}", url=item["url"], section="Onboarding",
                 detail=" ".join(filter(None, [
                     item["detail"],
                     f"Waiting {item['age']} business day{pluralize(item['age'])}." if item["age"] is not None else ""])),
                 due=item["due"])
        for item in items
    ]


def agency_history_subjects(organization, user) -> list:
    """The agency's programs, and its agreements for those who may read them
    (a queryset per kind: the history reads their events, not the objects)."""
    subjects = [Program.objects.filter(organization=organization)]
    if can_read_agreements(user, organization):
        subjects.append(OrganizationAgreement.objects.filter(organization=organization))
    return subjects


def participation_url(organization) -> str:
    """An agency's name in a list links to its steps 1–3."""
    return reverse("onboarding:participation", args=[organization.slug])


def agency_links(organization, user) -> list[Link]:
    return [Link("Joining HMIS: progress, agreement and programs", participation_url(organization))]
