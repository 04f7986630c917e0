from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from hmis_portal.core import registry
from hmis_portal.core.addresses import address
from hmis_portal.core.audit import HISTORY_PAGE, events_for
from hmis_portal.core.errors import apply_to_form, message_refusal
from hmis_portal.core.site import portal_url
from hmis_portal.core.work import open_tasks_for

from . import access, selectors, services
from .access import access_organization, is_coc_staff, require
from .context_processors import signed_in_person
from .forms import InvitationAcceptForm, InvitationForm
from .models import User


@login_required
def home(request):
    """The person's home page: what waits on them, by persona."""
    user = signed_in_person(request)
    # The person's memberships and groups as every page of theirs reads them
    # (access.standing, once per request): the page asks no query of its own.
    return render(
        request,
        "accounts/home.html",
        {
            # (persona, agency, the agency's page): the page's only address with
            # an argument, the same on every request (core.addresses).
            "memberships": [(membership.get_persona_display(), membership.organization,
                             address("organization-detail", membership.organization.slug))
                            for membership in access.own_memberships(user)],
            "tasks": open_tasks_for(user),
            "is_coc_staff": is_coc_staff(user),
            "staff_groups": access.group_names(user) if is_coc_staff(user) else [],
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



# ---------------------------------------------------------------- webhooks (system admins)

_SHOWN_SECRET = "webhook-secret-once"


def _webhook_subscription(user, pk):
    from django.shortcuts import get_object_or_404

    from hmis_portal.core.models import WebhookSubscription

    require(access.can_manage_webhooks(user), "Webhooks are the CoC system admins' configuration.")
    return get_object_or_404(WebhookSubscription, pk=pk)


@login_required
def webhooks(request):
    """System admins: the systems subscribed to the portal's events, and a
    new subscription (URL and events; its signing secret is shown once)."""
    from django.db.models import Count, Q

    from hmis_portal.core import webhooks as hooks
    from hmis_portal.core.models import WebhookDelivery, WebhookSubscription

    from .forms import WebhookSubscriptionForm

    require(access.can_manage_webhooks(request.user), "Webhooks are the CoC system admins' configuration.")
    form = WebhookSubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription, secret = hooks.webhook_subscription_create(
                actor=request.user, url=form.cleaned_data["url"], event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"])
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            request.session[_SHOWN_SECRET] = [subscription.pk, secret]
            messages.success(request, f"Subscribed {subscription.url} to {len(subscription.events)} "
                                      f"event{'s' if len(subscription.events) != 1 else ''}.")
            return redirect("webhook-detail", pk=subscription.pk)
    pending = Q(deliveries__status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING])
    subscriptions = (WebhookSubscription.objects.select_related("owner")
                     .annotate(waiting=Count("deliveries", filter=pending)).order_by("url", "pk"))
    return render(request, "accounts/webhooks.html", {"form": form, "subscriptions": subscriptions,
                                                      "events": hooks.EVENTS})


@login_required
def webhook_detail(request, pk):
    """One subscription: its events, state, and delivery log (newest first,
    paged), with Replay."""
    from django.core.paginator import Paginator

    from hmis_portal.core import webhooks as hooks

    subscription = _webhook_subscription(request.user, pk)
    secret = None
    shown = request.session.get(_SHOWN_SECRET)
    if shown and shown[0] == subscription.pk:
        secret = shown[1]
        del request.session[_SHOWN_SECRET]  # once
    page = Paginator(subscription.deliveries.order_by("-pk"), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/webhook_detail.html", {
        "subscription": subscription, "secret": secret, "page": page,
        "events": [(name, hooks.EVENTS.get(name, name)) for name in subscription.events]})


def _webhook_action(request, pk, call, success):
    from hmis_portal.core.views import run_action

    subscription = _webhook_subscription(request.user, pk)
    return run_action(request, lambda: call(actor=request.user, subscription=subscription), success,
                      to=reverse("webhook-detail", args=[subscription.pk]))


@login_required
@require_POST
def webhook_pause(request, pk):
    from hmis_portal.core import webhooks as hooks

    return _webhook_action(request, pk, hooks.webhook_subscription_pause,
                           "Paused: events are kept and go out in order when you resume.")


@login_required
@require_POST
def webhook_resume(request, pk):
    from hmis_portal.core import webhooks as hooks

    return _webhook_action(request, pk, hooks.webhook_subscription_resume,
                           "Resumed: waiting events go out now, in order.")


@login_required
@require_POST
def webhook_rotate(request, pk):
    from hmis_portal.core import webhooks as hooks

    subscription = _webhook_subscription(request.user, pk)
    try:
        secret = hooks.webhook_subscription_rotate_secret(actor=request.user, subscription=subscription)
    except ValidationError as exc:
        message_refusal(request, exc)
        return redirect("webhooks")
    request.session[_SHOWN_SECRET] = [subscription.pk, secret]
    messages.success(request, "A new signing secret is in use; the old one no longer signs.")
    return redirect("webhook-detail", pk=subscription.pk)


@login_required
@require_POST
def webhook_delete(request, pk):
    from hmis_portal.core import webhooks as hooks
    from hmis_portal.core.models import WebhookSubscription

    require(access.can_manage_webhooks(request.user), "Webhooks are the CoC system admins' configuration.")
    subscription = WebhookSubscription.objects.filter(pk=pk).first()
    if subscription is None:
        # A second submit of Delete: already gone, nothing to change.
        messages.info(request, "That webhook subscription was already deleted.")
        return redirect("webhooks")
    from hmis_portal.core.views import run_action

    return run_action(request, lambda: hooks.webhook_subscription_delete(actor=request.user,
                                                                          subscription=subscription),
                      f"Deleted the subscription of {subscription.url} and its delivery log.", to="webhooks")


@login_required
@require_POST
def webhook_replay(request, pk):
    """Send one delivery again: the same webhook-id and payload, a new attempt."""
    from django.shortcuts import get_object_or_404

    from hmis_portal.core import webhooks as hooks
    from hmis_portal.core.models import WebhookDelivery
    from hmis_portal.core.views import run_action

    require(access.can_manage_webhooks(request.user), "Webhooks are the CoC system admins' configuration.")
    delivery = get_object_or_404(WebhookDelivery, pk=pk)
    return run_action(request, lambda: hooks.webhook_delivery_replay(actor=request.user, delivery=delivery),
                      f"Queued {delivery.event_type} {delivery.event_id} to be sent again.",
                      to=reverse("webhook-detail", args=[delivery.subscription_id]))


# ---------------------------------------------------------------- one's own API keys

_SHOWN_KEY = "api-key-once"


def _own_key(user, pk):
    from django.shortcuts import get_object_or_404

    return get_object_or_404(access.own_api_keys(user), pk=pk)


@login_required
def api_keys(request):
    """A person's own read keys: what they are for, when last used, Rotate and
    Revoke, and a new one (shown once). A key reads in the API exactly what
    its owner may see in the portal (accounts.access), no more."""
    import datetime as dt

    from django.core.cache import cache
    from django.utils import timezone

    from .apikeys import services as keys
    from .forms import OwnApiKeyForm

    require(access.can_create_own_read_key(request.user), "Sign in to make an API key.")
    form = OwnApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The form's one-time token: a second submit of the same form (a
        # double click, a reload) makes no second key. With the cache out of
        # reach (add answers False), a key made this past minute says so.
        first = cache.add(f"api-key-form:{request.user.pk}:{form.cleaned_data['once']}", 1, timeout=24 * 3600)
        if not first and access.own_api_keys(request.user).filter(
                created_at__gte=timezone.now() - dt.timedelta(minutes=1)).exists():
            messages.info(request, "That key was already made; it is in the list below.")
            return redirect("api-keys")
        try:
            key, plain = keys.api_key_create(actor=request.user, owner=request.user,
                                             name=form.cleaned_data["name"], scopes=[access.READ_SCOPE])
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            request.session[_SHOWN_KEY] = [key.pk, plain]
            messages.success(request, f"Made the key “{key.name}”. Copy it now: it is not shown again.")
            return redirect("api-keys")
    shown = request.session.pop(_SHOWN_KEY, None)
    return render(request, "accounts/api_keys.html", {
        "form": form if form.is_bound else OwnApiKeyForm(),
        "keys": access.own_api_keys(request.user).order_by("revoked_at", "-created_at", "-pk"),
        "shown": shown,
        "api_url": portal_url("/api/v1/"),
    })


@login_required
@require_POST
def api_key_rotate(request, pk):
    from .apikeys import services as keys

    key = _own_key(request.user, pk)
    try:
        key, plain = keys.api_key_rotate(actor=request.user, key=key)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        request.session[_SHOWN_KEY] = [key.pk, plain]
        messages.success(request, f"A new key replaces “{key.name}”; the old one stopped working. Copy it now: "
                                  "it is not shown again.")
    return redirect("api-keys")


@login_required
@require_POST
def api_key_revoke(request, pk):
    from .apikeys import services as keys

    key = _own_key(request.user, pk)
    if key.is_revoked:
        # A second submit of Revoke: already revoked, nothing to change.
        messages.info(request, f"The key “{key.name}” was already revoked.")
        return redirect("api-keys")
    try:
        keys.api_key_revoke(actor=request.user, key=key)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        messages.success(request, f"Revoked the key “{key.name}”: it no longer works.")
    return redirect("api-keys")
