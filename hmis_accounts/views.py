"""Portal pages for HMIS account activity (seed 002, SPEC §3.5): the user's
own account, the agency's accounts at risk, CoC staff's overview, and the
reactivation and retraining actions. Views parse and call a service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_POST

from hmis_portal.core.audit import events_for_all
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import deadline_text
from hmis_portal.core.site import portal_url
from hmis_portal.core.views import run_action

from accounts import access
from accounts.access import access_organization, require
from accounts.models import Persona

from hmis_access.models import AccessPolicy, AccessRequest, HMISAccount
from hmis_access.selectors import hmis_states

from . import selectors, services
from .ics import login_calendar
from .models import ReactivationRequest
from .services import calendar_feed_account, calendar_link_reset

@login_required
@require_GET
def hmis_account_status(request):
    """The user's own HMIS account: status and days since the last login."""
    account = selectors.own_hmis_account(request.user)
    context = {"account": account}
    if account is not None:
        policy = AccessPolicy.current()
        context.update(
            policy=policy,
            hmis_state=hmis_states([account.pk]).get(str(account.pk)),
            can_retry=access.can_retry_hmis_provisioning(request.user),
            activity=selectors.account_activity(account, policy, local_date(), selectors.open_request_for(account)),
            feed_url=portal_url(reverse("hmis-account-calendar-feed", kwargs={"token": account.calendar_token})),
            # The account's whole story: provisioning, inactivity and every
            # reactivation and access request about it.
            events=events_for_all([account, *account.reactivation_requests.all(),
                                   *AccessRequest.objects.filter(user=account.user)])[:50],
        )
    return render(request, "hmis_accounts/hmis_account_status.html", context)


@login_required
@require_POST
def hmis_account_reminders(request):
    account = selectors.own_hmis_account(request.user)
    if account is None:
        raise Http404("You have no HMIS account.")
    enabled = request.POST.get("login_reminders") == "on"
    return run_action(request, lambda: services.hmis_account_set_login_reminders(actor=request.user, account=account,
                                                                                 enabled=enabled),
                      "Login reminders are on." if enabled else "Login reminders are off.", to="hmis-account-status")


def _calendar_response(account: HMISAccount) -> HttpResponse:
    response = HttpResponse(login_calendar(account, today=local_date()), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="hmis-login-reminders.ics"'
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def hmis_account_calendar(request):
    account = selectors.own_hmis_account(request.user)
    if account is None:
        raise Http404("You have no HMIS account.")
    return _calendar_response(account)


@require_GET
def hmis_account_calendar_feed(request, token):
    """The subscription URL a calendar app polls without signing in: the
    unguessable token is the credential, and it reveals only the reminder
    dates of one live account."""
    account = calendar_feed_account(token=token)
    if account is None:
        raise Http404("No such calendar.")
    return _calendar_response(account)


@login_required
@require_POST
def hmis_account_calendar_reset(request):
    """The owner replaces their subscription link; the old one stops at once."""
    account = selectors.own_hmis_account(request.user)
    if account is None:
        raise Http404("You have no HMIS account.")
    return run_action(request, lambda: calendar_link_reset(actor=request.user, account=account),
                      "Your calendar link was reset. The old address no longer works: subscribe to the new one "
                      "below in your calendar app.", to="hmis-account-status")


@login_required
@require_POST
def hmis_account_request_reactivation(request, pk):
    account = selectors.access_hmis_account_for_reactivation(request.user, pk)

    def requested(reactivation):
        if reactivation.status == ReactivationRequest.Status.READY:
            return (f"Reactivation of {account.hmis_username} requested. Provisioning staff will process it. "
                    f"{deadline_text(reactivation.provisioning_due_at)}.")
        return (messages.INFO, f"Reactivation of {account.hmis_username} requested. "
                               f"{capfirst(AccessPolicy.current().retraining_title)} must be retaken first; the "
                               "request then goes to provisioning.")

    own = account.user_id == request.user.pk
    return run_action(request, lambda: services.reactivation_request_create(
                          actor=request.user, account=account, note=request.POST.get("note", "")[:2000]),
                      requested, to="hmis-account-status" if own else reverse(
                          "agency-hmis-accounts", kwargs={"slug": account.organization.slug}))


@login_required
@require_GET
def agency_hmis_accounts(request, slug):
    """The agency's HMIS accounts: Inactive ones and those at risk first."""
    organization = access_organization(request.user, slug)
    require(access.can_see_hmis_accounts(request.user, organization),
            "The agency's HMIS accounts are for its leads and the CoC's provisioning and training staff.")
    rows = selectors.agency_accounts(organization, today=local_date())
    return render(request, "hmis_accounts/agency_hmis_accounts.html", {
        "organization": organization,
        "rows": rows,
        "policy": AccessPolicy.current(),
        "can_request": access.has_persona(request.user, organization, [Persona.AGENCY_ADMINISTRATOR]),
        "at_risk_count": sum(1 for row in rows if row.at_risk),
        # Where each account stands in the HMIS, read for the whole page at once.
        "hmis_states": hmis_states([row.account.pk for row in rows]),
        "can_retry": access.can_retry_hmis_provisioning(request.user),
    })


@login_required
@require_GET
def hmis_accounts_dashboard(request):
    """CoC staff: counts by status and the accounts to act on."""
    require(access.can_see_hmis_accounts(request.user), "This page is for CoC provisioning and training staff.")
    now = timezone.now()
    today = local_date(now)
    return render(request, "hmis_accounts/hmis_accounts_dashboard.html", {
        "overview": selectors.staff_overview(request.user, today=today),
        "today": today,
        "now": now,
        "can_reactivate": access.can_provision(request.user),
        "can_record_retraining": access.can_record_retraining(request.user),
    })


@login_required
@require_POST
def reactivation_reactivate(request, pk):
    reactivation = selectors.access_reactivation_request(request.user, pk)
    return run_action(request, lambda: services.hmis_account_reactivate(actor=request.user,
                                                                        reactivation_request=reactivation),
                      f"{reactivation.account.hmis_username} is Active again; the user was told to log in today.",
                      to="hmis-accounts-dashboard")


@login_required
@require_POST
def reactivation_decline(request, pk):
    reactivation = selectors.access_reactivation_request(request.user, pk)
    return run_action(request, lambda: services.reactivation_request_decline(
                          actor=request.user, reactivation_request=reactivation,
                          reason=request.POST.get("reason", "")[:2000]),
                      f"The reactivation of {reactivation.account.hmis_username} was declined.",
                      to="hmis-accounts-dashboard")


@login_required
@require_POST
def hmis_account_retraining_complete(request, pk):
    account = selectors.access_hmis_account_for_retraining(request.user, pk)
    return run_action(request, lambda: services.hmis_account_record_retraining(actor=request.user, account=account),
                      f"Retraining recorded for {account.hmis_username}.", to="hmis-accounts-dashboard")


@login_required
@require_GET
def hmis_provisioning(request):
    """Provisioning staff: what the HMIS does not yet reflect (pending and
    failed commands, with Retry on failed ones) and what the last nightly
    check found different there (drift), and, for system admins, a test of
    the connection to the HMIS."""
    from hmis_access.selectors import unsynced_accounts
    from hmis_portal.core import provisioning

    require(access.can_see_hmis_provisioning(request.user),
            "This page is for CoC provisioning staff and system admins.")
    enabled = provisioning.enabled()
    drifts, checked_at = selectors.drift_findings(request.user) if enabled else ([], None)
    unknown, unknown_more = selectors.unknown_user_commands(request.user) if enabled else ([], 0)
    return render(request, "hmis_accounts/hmis_provisioning.html", {
        "enabled": enabled,
        "unsynced": unsynced_accounts(request.user),
        "unknown": unknown,
        "unknown_more": unknown_more,
        "can_see_unknown": access.can_see_unknown_hmis_users(request.user),
        "drifts": drifts,
        "checked_at": checked_at,
        "can_retry": access.can_retry_hmis_provisioning(request.user),
        "can_test": access.can_test_hmis_connection(request.user),
    })


@login_required
@require_POST
def hmis_provisioning_command_retry(request, pk):
    """"Retry" on a failed command of a user the portal does not know: due
    again now, its attempts counted afresh, audited; a second submit finds
    nothing failed."""
    from hmis_portal.core import provisioning

    command = selectors.access_unknown_user_command(request.user, pk)
    name = command.payload.get("user_name") or command.payload.get("remote_id") or command.subject

    def said(retried):
        if not retried:
            return messages.INFO, f"Nothing to retry for {name}: it has not failed (already retried, or sent)."
        return f"{command.get_kind_display()} for {name} will be sent to the HMIS again now."

    return run_action(request, lambda: provisioning.command_retry(actor=request.user, ids=[command.pk]), said,
                      to="hmis-provisioning")


@login_required
@require_POST
def hmis_provisioning_test(request):
    """System admins' "Test connection": reads the HMIS's
    ServiceProviderConfig and says in one line what it found, within the
    configured timeout however the HMIS behaves; the token is never shown."""
    from hmis_portal.core import scim

    require(access.can_test_hmis_connection(request.user),
            "Only the CoC's system admins test the connection to the HMIS.")
    ok, line = scim.check_connection_within()
    messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, line)
    return redirect("hmis-provisioning")
