from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from hmis_portal.core import registry
from hmis_portal.core.audit import HISTORY_PAGE, events_for
from hmis_portal.core.errors import apply_to_form, message_refusal
from hmis_portal.core.work import open_tasks_for

from . import access, selectors, services
from .access import access_organization, is_coc_staff, require
from .forms import InvitationAcceptForm, InvitationForm
from .models import User


@login_required
def home(request):
    """The person's home page: what waits on them, by persona."""
    user = request.user
    return render(
        request,
        "accounts/home.html",
        {
            "memberships": selectors.memberships_of(user),
            "tasks": open_tasks_for(user),
            "is_coc_staff": is_coc_staff(user),
            "staff_groups": [group.name for group in user.groups.all()] if is_coc_staff(user) else [],
        },
    )


@login_required
def search(request):
    """CoC staff: find an agency or a person across the CoC."""
    access.require(access.can_search_agencies(request.user), "Searching every agency is for CoC staff.")
    query = request.GET.get("q", "")[:100]
    agencies, people = selectors.search_agencies_and_people(request.user, query)
    # An agency's name links to the page a later stage offers for it (its
    # progress through steps 1-3), else to the agency's own page.
    return render(request, "accounts/search.html", {
        "query": query, "limit": selectors.SEARCH_LIMIT,
        "agencies": [(agency, _agency_page(agency)) for agency in agencies],
        "people": [(membership, _agency_page(membership.organization)) for membership in people]})


def _agency_page(organization) -> str:
    if registry.agency_page.app is None:
        return reverse("organization-detail", args=[organization.slug])
    return registry.agency_page(organization)


# People (and open invitations) on one page of an agency's page.
PEOPLE_PAGE = 50


@login_required
def organization_detail(request, slug):
    """The agency's people and open invitations, a page of each at a time."""
    organization = access_organization(request.user, slug)
    # The links and the invitations ask several predicates of this agency.
    access.remember_personas(request.user)
    people = Paginator(selectors.organization_members(organization), PEOPLE_PAGE).get_page(request.GET.get("people"))
    # Those whose persona the person may invite are the ones they may resend or revoke.
    invitations = Paginator(access.restrict_invitations(selectors.open_invitations(organization), request.user,
                                                        organization), PEOPLE_PAGE).get_page(
        request.GET.get("invitations"))
    return render(
        request,
        "accounts/organization_detail.html",
        {
            "organization": organization,
            "members": people,
            "events": events_for(organization)[:HISTORY_PAGE],
            # Later stages' pages about the agency, each shown only to those its own view serves.
            "links": registry.agency_links.gather(organization, request.user),
            "invite_form": _invite_form(request.user, organization),
            "invitations": invitations,
        },
    )


def _invite_form(user, organization, data=None):
    personas = access.invitable_personas(user, organization)
    return InvitationForm(data, personas=personas) if personas else None


@login_required
def organization_invite(request, slug):
    """Invite someone to the agency's people, by email."""
    organization = access_organization(request.user, slug)
    require(access.can_invite(request.user, organization),
            "Only the CoC's implementation team, or the agency's Program Manager or Agency Administrator, "
            "invite its people.")
    form = _invite_form(request.user, organization, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_send(actor=request.user, organization=organization,
                                                  **form.cleaned_data)
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            messages.success(request, f"An invitation was emailed to {invitation.email}.")
            return redirect("organization-detail", organization.slug)
    return render(request, "accounts/invite.html", {"organization": organization, "form": form})


def _invitation_action(request, pk, call, success):
    invitation = selectors.access_invitation(request.user, pk)
    require(access.can_manage_invitation(request.user, invitation),
            "Only those who may invite this person to the agency resend or revoke the invitation.")
    try:
        call(actor=request.user, invitation=invitation)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        messages.success(request, success.format(email=invitation.email))
    return redirect("organization-detail", invitation.organization.slug)


@login_required
@require_POST
def invitation_resend(request, pk):
    return _invitation_action(request, pk, services.invitation_resend, "A new link was emailed to {email}.")


@login_required
@require_POST
def invitation_revoke(request, pk):
    return _invitation_action(request, pk, services.invitation_revoke,
                              "The invitation to {email} was revoked; its link no longer works.")


def invitation_accept(request, token):
    """The link in an invitation email: choose a password, join the agency,
    and go on signing in (with the second factor when the CoC asks for one)."""
    invitation = services.invitation_for_token(token=token)
    refusal = services.invitation_refusal_for(invitation=invitation)
    existing = None if refusal else User.objects.filter(email__iexact=invitation.email).first()
    form = InvitationAcceptForm(request.POST if request.method == "POST" else None,
                                initial={"full_name": invitation.full_name if invitation else ""})
    if not refusal and request.method == "POST" and (existing is not None or form.is_valid()):
        data = form.cleaned_data if existing is None else {}
        try:
            services.invitation_accept(token=token, full_name=data.get("full_name", ""),
                                       password=data.get("password1", ""), signed_in=request.user)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                apply_to_form(form, exc)
            elif existing is None and "password" in " ".join(exc.messages).lower():
                for message in exc.messages:
                    form.add_error("password1", message)
            else:
                refusal = " ".join(exc.messages)
        except PermissionDenied as exc:
            refusal = str(exc)
        else:
            if existing is None:
                messages.success(request, f"Welcome to {invitation.organization}. Sign in with your new password.")
                return redirect(f"{reverse('login')}?next=/")
            messages.success(request, f"You joined {invitation.organization} as {invitation.get_persona_display()}.")
            return redirect("home")
    response = render(request, "accounts/invitation_accept.html", {
        "invitation": invitation if not refusal else None, "refusal": refusal, "form": form, "existing": existing,
    }, status=404 if invitation is None else 200)
    # The token is the credential: keep it out of Referer headers to other
    # sites ("no-referrer" would make the browser's own POST carry a null
    # Origin, which CSRF protection refuses).
    response["Referrer-Policy"] = "same-origin"
    return response

