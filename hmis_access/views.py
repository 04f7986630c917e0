"""Portal views of access requests: the user's own checklist, the agency's
list of its users, the identification form, and the CoC's provisioning queue
and SLA figure. Views parse and call services; access lives in selectors."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from hmis_portal.core.audit import events_for
from hmis_portal.core.calendar import local_date

from . import provisioning, services
from accounts.access import access_organization, in_coc_group, require_persona, restrict
from .checklist import build_checklist, build_checklists
from .forms import AccessRequestForm
from accounts.models import CoCGroup, Persona
from .models import AccessRequest

AGENCY_VIEWERS = (Persona.EXECUTIVE_DIRECTOR, Persona.PROGRAM_MANAGER, Persona.AGENCY_ADMINISTRATOR)
REQUESTERS = (Persona.PROGRAM_MANAGER, Persona.AGENCY_ADMINISTRATOR)
COC_VIEWERS = (CoCGroup.TRAINING, CoCGroup.PROVISIONING, CoCGroup.SYSTEM_ADMIN)
QUEUE_VIEWERS = (CoCGroup.PROVISIONING, CoCGroup.SYSTEM_ADMIN)


def _agency_or_coc(user, organization):
    if user.is_staff:
        if not in_coc_group(user, *COC_VIEWERS):
            raise PermissionDenied("Only CoC training, provisioning and system admin staff see user access.")
    else:
        require_persona(user, organization, AGENCY_VIEWERS, "see the agency's user access")


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
    _agency_or_coc(request.user, organization)
    checklists = build_checklists(AccessRequest.objects.filter(organization=organization))
    can_request = (not request.user.is_staff) and bool(
        set(REQUESTERS) & {m.persona for m in request.user.memberships.filter(organization=organization)})
    return render(request, "hmis_access/agency_users.html",
                  {"organization": organization, "checklists": checklists, "can_request": can_request})


@login_required
@require_http_methods(["GET", "POST"])
def access_request_new(request, slug):
    organization = access_organization(request.user, slug)
    if request.user.is_staff:
        raise PermissionDenied("Users are identified by their agency's Program Manager or Agency Administrator.")
    require_persona(request.user, organization, REQUESTERS, "identify users for HMIS access")
    form = AccessRequestForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            access_request = services.access_request_create(actor=request.user, organization=organization,
                                                            **form.cleaned_data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
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
        _agency_or_coc(request.user, organization)
    return render(request, "hmis_access/access_request_detail.html", {
        "organization": organization, "access_request": access_request,
        "checklist": build_checklist(access_request), "events": events_for(access_request),
    })


def _require_queue_viewer(user):
    if not in_coc_group(user, *QUEUE_VIEWERS):
        raise PermissionDenied("Only CoC provisioning staff and system admins see the provisioning queue.")


@login_required
def provisioning_queue(request):
    _require_queue_viewer(request.user)
    today = local_date()
    return render(request, "hmis_access/provisioning_queue.html",
                  {"entries": provisioning.provisioning_queue(today=today), "today": today})


@login_required
def provisioning_sla(request):
    _require_queue_viewer(request.user)
    return render(request, "hmis_access/provisioning_sla.html", {"months": provisioning.monthly_sla()})
