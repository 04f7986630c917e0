"""Portal views of access requests: the user's own checklist, the agency's
list of its users, the identification form, and the CoC's provisioning queue
and SLA figure. Views parse and call services; access lives in selectors."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import access
from accounts.access import access_organization, require, restrict
from hmis_portal.core import provisioning as hmis_provisioning
from hmis_portal.core.audit import events_for
from hmis_portal.core.calendar import local_date
from hmis_portal.core.charts import MonthShare, monthly_share_chart
from hmis_portal.core.errors import REFUSALS, apply_to_form
from hmis_portal.core.views import run_action

from . import provisioning, selectors, services
from .checklist import build_checklists, for_checklists
from .forms import AccessRequestForm
from .models import AccessPolicy, AccessRequest, HMISAccount

AGENCY_USERS_PAGE_SIZE = 50
APPROVALS_PAGE_SIZE = 50
# Granted accounts not yet in the HMIS, under the queue; the HMIS provisioning
# page lists them all.
QUEUE_UNSYNCED_SHOWN = 50
# Rows of the provisioning queue on one page, earliest deadline first.
QUEUE_PAGE = 50


def _require_user_access_viewer(user, organization):
    require(access.can_see_user_access(user, organization),
            "The agency's user access is for its leads and the CoC's training, provisioning and system admin staff.")


@login_required
def my_access(request):
    """The signed-in person's own checklist(s) and HMIS account."""
    requests = AccessRequest.objects.filter(user=request.user).exclude(status=AccessRequest.Status.WITHDRAWN)
    requests = requests.exclude(status=AccessRequest.Status.DECLINED)
    checklists = build_checklists(requests)
    account = getattr(request.user, "hmis_account", None) if not access.is_coc_staff(request.user) else None
    return render(request, "hmis_access/my_access.html", {
        "checklists": checklists, "account": account, "hmis": selectors.in_the_hmis(account),
        "requesters": access.persona_labels(AccessPolicy.current().requester_personas)})


@login_required
def agency_users(request, slug):
    organization = access_organization(request.user, slug)
    # The view's check, the Identify button and the checklists' actions ask the reader's personas here.
    access.remember_personas(request.user)
    _require_user_access_viewer(request.user, organization)
    page = Paginator(for_checklists(AccessRequest.objects.filter(organization=organization))
                     .order_by("-created_at", "-pk"), AGENCY_USERS_PAGE_SIZE).get_page(request.GET.get("page"))
    checklists = build_checklists(page.object_list, prefetched=True)
    can_request = access.can_identify_users(request.user, organization)
    # No request here: its people may still hold HMIS accounts granted
    # before the portal (or imported); the page says so rather than "nobody".
    accounts = HMISAccount.objects.filter(organization=organization).count() if not checklists else 0
    return render(request, "hmis_access/agency_users.html",
                  {"organization": organization, "checklists": checklists, "page": page, "can_request": can_request,
                   "accounts_without_requests": accounts,
                   "viewer_personas": access.personas_at(request.user, organization)})


@login_required
@require_http_methods(["GET", "POST"])
def access_request_new(request, slug):
    organization = access_organization(request.user, slug)
    personas = AccessPolicy.current().requester_personas
    require(access.can_identify_users(request.user, organization, personas),
            f"Users are identified by their agency's {access.persona_labels(personas)}.")
    form = AccessRequestForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            access_request = services.access_request_create(actor=request.user, organization=organization,
                                                            **form.cleaned_data)
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            if access_request.status == AccessRequest.Status.AWAITING_APPROVAL:
                messages.success(request, f"{access_request.user} was identified. The request now waits for the "
                                          "CoC's approval; you are told when it is decided.")
            else:
                messages.success(request, f"{access_request.user} was identified; they have been emailed a link to "
                                          "set a password and see their checklist.")
            return redirect("access-request-detail", slug=organization.slug, pk=access_request.pk)
    return render(request, "hmis_access/access_request_form.html", {"organization": organization, "form": form})


@login_required
def access_request_detail(request, slug, pk):
    organization = access_organization(request.user, slug)
    # Fetched once with what its checklist reads.
    access_request = get_object_or_404(for_checklists(restrict(AccessRequest.objects.all(), request.user)), pk=pk,
                                       organization=organization)
    if access_request.user_id != request.user.pk:
        _require_user_access_viewer(request.user, organization)
    awaiting = (access_request.status == AccessRequest.Status.AWAITING_APPROVAL
                and access.can_work_access_approvals(request.user))
    return render(request, "hmis_access/access_request_detail.html", {
        "organization": organization, "access_request": access_request,
        "checklist": build_checklists([access_request], prefetched=True)[0], "events": events_for(access_request),
        "hmis": selectors.in_the_hmis(HMISAccount.objects.filter(user_id=access_request.user_id).first()
                                      if access_request.status == AccessRequest.Status.PROVISIONED else None),
        "can_retry": access.can_retry_hmis_provisioning(request.user),
        "viewer_personas": access.personas_at(request.user, organization) if access_request.user_id != request.user.pk
        else set(),
        "decide": awaiting, "approval_refusal": access.approval_refusal(request.user, access_request) if awaiting else "",
    })


def _require_queue_viewer(user):
    require(access.can_provision(user), "Only CoC provisioning staff and system admins see the provisioning queue.")


@login_required
def provisioning_queue(request):
    _require_queue_viewer(request.user)
    now = timezone.now()
    awaiting = restrict(AccessRequest.objects.filter(status=AccessRequest.Status.AWAITING_APPROVAL),
                        request.user).count()
    page = Paginator(provisioning.WaitingQueue(now), QUEUE_PAGE).get_page(request.GET.get("page"))
    entries = page.object_list
    # Where each person's existing HMIS account stands in the HMIS (a
    # reactivation, or a new grant to someone who had one), read at once.
    accounts = {a.user_id: a for a in HMISAccount.objects.filter(user_id__in={e.item.user_id for e in entries})}
    states = selectors.hmis_states([a.pk for a in accounts.values()])
    for entry in entries:
        entry.hmis_account = accounts.get(entry.item.user_id)
        entry.hmis_state = states.get(str(entry.hmis_account.pk)) if entry.hmis_account else None
    return render(request, "hmis_access/provisioning_queue.html",
                  {"entries": entries, "page": page, "today": local_date(now),
                   "awaiting_approval": awaiting, "can_approve": access.can_work_access_approvals(request.user),
                   "unsynced": selectors.unsynced_accounts(request.user, limit=QUEUE_UNSYNCED_SHOWN),
                   "can_retry": access.can_retry_hmis_provisioning(request.user)})


@login_required
@require_POST
def hmis_provisioning_retry(request, pk):
    """"Retry" on an account whose commands the HMIS refused or never took:
    they are due again now, audited; a second submit finds nothing failed."""
    account = selectors.access_hmis_account_for_provisioning(request.user, pk)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = "provisioning-queue"

    def said(retried):
        if not retried:
            return (messages.INFO, f"Nothing to retry for {account.hmis_username}: nothing of it has failed "
                                   "(already retried, or already in the HMIS).")
        return f"{account.hmis_username} will be sent to the HMIS again now."

    return run_action(request, lambda: hmis_provisioning.subject_retry(actor=request.user, subject=account.pk,
                                                                       about=account), said, to=back)


@login_required
def provisioning_sla(request):
    _require_queue_viewer(request.user)
    months, policy = provisioning.monthly_sla(), AccessPolicy.current()
    # Oldest month first, as the referral timeliness chart reads, from the
    # first month with provisioning to this one; a month with none says so.
    by_month = {m.month: m for m in months}
    shares, month, this_month = [], min(by_month, default=None), local_date().replace(day=1)
    while month is not None and month <= this_month:
        figure = by_month.get(month)
        shares.append(MonthShare(month, figure.on_time_share, figure.provisioned) if figure
                      else MonthShare(month, None, 0))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    chart = monthly_share_chart(
        shares,
        target_percent=policy.provisioning_target_percent,
        title="Share of HMIS access requests provisioned by the deadline", counted="provisioned on time",
        none_text="none provisioned")
    return render(request, "hmis_access/provisioning_sla.html", {"months": months, "policy": policy,
                                                                 "chart": chart})


# --- the CoC's approval of new requests, where its policy has one (seed 003) ---

def _require_approver(user):
    require(access.can_work_access_approvals(user),
            "Only CoC provisioning staff and system admins approve access requests.")


@login_required
@require_GET
def access_approvals(request):
    """Requests awaiting the CoC's approval, oldest first, each with approve
    and decline (with a reason), unless this person may not decide it."""
    _require_approver(request.user)
    waiting = (restrict(AccessRequest.objects.filter(status=AccessRequest.Status.AWAITING_APPROVAL), request.user)
               .select_related("user", "organization", "requested_by").prefetch_related("roles", "programs")
               .order_by("created_at", "pk"))
    page = Paginator(waiting, APPROVALS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(r, access.approval_refusal(request.user, r)) for r in page.object_list]
    return render(request, "hmis_access/access_approvals.html", {"rows": rows, "page": page})


def _awaiting_request(user, pk):
    """Another agency's request is a 404; an agency person of its own agency gets 403."""
    access_request = get_object_or_404(restrict(AccessRequest.objects.select_related("user"), user), pk=pk)
    _require_approver(user)
    return access_request


@login_required
@require_POST
def access_request_approve(request, pk):
    access_request = _awaiting_request(request.user, pk)
    return run_action(request, lambda: services.access_request_approve(actor=request.user,
                                                                       access_request_id=access_request.pk),
                      f"The access request for {access_request.user} was approved; they have been told what to do "
                      "next.", to="access-approvals", refusals=REFUSALS)


@login_required
@require_POST
def access_request_decline(request, pk):
    access_request = _awaiting_request(request.user, pk)
    return run_action(request, lambda: services.access_request_decline(
                          actor=request.user, access_request_id=access_request.pk,
                          reason=request.POST.get("reason", "")[:2001]),
                      f"The access request for {access_request.user} was declined; the agency was told why.",
                      to="access-approvals", refusals=REFUSALS)
