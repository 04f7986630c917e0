"""Portal views of access requests: the user's own checklist, the agency's
list of its users, the identification form, and the CoC's provisioning queue
and SLA figure. Views parse and call services; access lives in selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts import access
from accounts.access import access_organization, require, restrict
from hmis_portal.core.audit import events_for
from hmis_portal.core.calendar import local_date
from hmis_portal.core.errors import apply_to_form

from . import provisioning, services
from .checklist import build_checklist, build_checklists
from .forms import AccessRequestForm
from .models import AccessPolicy, AccessRequest

AGENCY_USERS_PAGE_SIZE = 50


def _require_user_access_viewer(user, organization):
    require(access.can_see_user_access(user, organization),
            "The agency's user access is for its leads and the CoC's training, provisioning and system admin staff.")


@login_required
def my_access(request):
    """The signed-in person's own checklist(s) and HMIS account."""
    requests = AccessRequest.objects.filter(user=request.user).exclude(status=AccessRequest.Status.WITHDRAWN)
    checklists = build_checklists(requests)
    account = getattr(request.user, "hmis_account", None) if not request.user.is_staff else None
    return render(request, "hmis_access/my_access.html", {"checklists": checklists, "account": account})


@login_required
def agency_users(request, slug):
    organization = access_organization(request.user, slug)
    _require_user_access_viewer(request.user, organization)
    page = Paginator(AccessRequest.objects.filter(organization=organization).order_by("-created_at", "-pk"),
                     AGENCY_USERS_PAGE_SIZE).get_page(request.GET.get("page"))
    checklists = build_checklists(page.object_list)
    can_request = access.can_identify_users(request.user, organization)
    return render(request, "hmis_access/agency_users.html",
                  {"organization": organization, "checklists": checklists, "page": page, "can_request": can_request,
                   "viewer_personas": access.personas_at(request.user, organization)})


@login_required
@require_http_methods(["GET", "POST"])
def access_request_new(request, slug):
    organization = access_organization(request.user, slug)
    require(access.can_identify_users(request.user, organization),
            "Users are identified by their agency's Program Manager or Agency Administrator.")
    form = AccessRequestForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            access_request = services.access_request_create(actor=request.user, organization=organization,
                                                            **form.cleaned_data)
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            messages.success(request, f"{access_request.user} was identified; they have been emailed a link to "
                                      "set a password and see their checklist.")
            return redirect("access-request-detail", slug=organization.slug, pk=access_request.pk)
    return render(request, "hmis_access/access_request_form.html", {"organization": organization, "form": form})


@login_required
def access_request_detail(request, slug, pk):
    organization = access_organization(request.user, slug)
    access_request = get_object_or_404(restrict(AccessRequest.objects.all(), request.user), pk=pk,
                                       organization=organization)
    if access_request.user_id != request.user.pk:
        _require_user_access_viewer(request.user, organization)
    return render(request, "hmis_access/access_request_detail.html", {
        "organization": organization, "access_request": access_request,
        "checklist": build_checklist(access_request), "events": events_for(access_request),
        "viewer_personas": access.personas_at(request.user, organization) if access_request.user_id != request.user.pk
        else set(),
    })


def _require_queue_viewer(user):
    require(access.can_provision(user), "Only CoC provisioning staff and system admins see the provisioning queue.")


@login_required
def provisioning_queue(request):
    _require_queue_viewer(request.user)
    now = timezone.now()
    return render(request, "hmis_access/provisioning_queue.html",
                  {"entries": provisioning.provisioning_queue(now=now), "today": local_date(now)})


@login_required
def provisioning_sla(request):
    _require_queue_viewer(request.user)
    return render(request, "hmis_access/provisioning_sla.html", {"months": provisioning.monthly_sla(),
                                                                 "policy": AccessPolicy.current()})
