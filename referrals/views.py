"""Views only parse input and call selectors and services (STYLE §2)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access import can_match, can_record_ce_enrollment, can_work_referral, sees_client_data
from accounts.models import Organization
from hmis_portal.core import calendar, inputs
from hmis_portal.core.errors import apply_to_form, message_refusal, refusal_messages
from hmis_portal.core.exports import CSV_CONTENT_TYPE, csv_chunks
from onboarding.models import Program

from . import hud, selectors, services
from .charts import timeliness_chart
from .filtersets import ReferralFilter
from .forms import CEEnrollmentForm, MoveInForm, ReferralCreateForm, RereferForm, StatusChangeForm, TransferForm
from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition

PAGE_SIZE = 50
COUNTS_PAGE_SIZE = 25  # programs per page of the counts report


def _require_ces_team(user):
    if not can_match(user):
        raise PermissionDenied("Only the CES team may do this.")


@login_required
def counts(request):
    """Seed 001, step 1: the counts report of incoming referrals, a page of
    programs at a time. Counts only: every member of a provider agency sees
    them; the lists and client details behind them are for who works referrals."""
    selectors.require_referral_counts(request.user)
    now = timezone.now()
    ces = can_match(request.user)
    report = selectors.counts_report(request.user, now=now, returned=ces)
    return render(request, "referrals/counts.html", {
        "report": Paginator(report.programs, COUNTS_PAGE_SIZE).get_page(request.GET.get("page")),
        "is_ces_team": ces,
        # The CES team sees every provider: its overdue total is the report's.
        "overdue_total": sum(entry.overdue for entry in report.programs) if ces else None,
        "returned_total": report.returned,
        "now": now,
        "works_referrals": sees_client_data(request.user),
    })


def _page_query(params, **cursor) -> str:
    query = params.copy()
    for key in ("after", "before", "page"):
        query.pop(key, None)
    query.update(cursor)
    return query.urlencode()


def _keyset(request, queryset, *, column, descending):
    page = selectors.keyset_page(queryset, column=column, descending=descending, after=request.GET.get("after"),
                                 before=request.GET.get("before"), size=PAGE_SIZE)
    page.next_query = _page_query(request.GET, after=page.next_cursor)
    page.previous_query = _page_query(request.GET, before=page.previous_cursor)
    return page


@login_required
def referral_list(request):
    selectors.require_referral_worker(request.user)
    now = timezone.now()
    filterset = ReferralFilter(request.GET, queryset=Referral.objects.none())
    valid = filterset.is_valid()
    filters = filterset.form.cleaned_data if valid else {}
    queue = filters.get("queue") or "open"
    queryset = filterset.filter_queryset(selectors.referral_list(
        request.user, now=now, due=filters.get("due") or None, queue=queue)) if valid else Referral.objects.none()
    column, descending = selectors.LIST_ORDER[queue]
    program = status = None
    if filters.get("program"):
        program = Program.objects.select_related("organization").filter(pk=filters["program"]).first()
    if filters.get("status"):
        status = NeedStatus.objects.filter(pk=filters["status"]).first()
    return render(request, "referrals/list.html", {
        "page": _keyset(request, queryset, column=column, descending=descending),
        "filters": {**filters, "queue": queue if queue != "open" else None, "client_id": filters.get("client")},
        "errors": [] if valid else [f"{filterset.form.fields[name].label}: {' '.join(errors)}"
                                    for name, errors in filterset.form.errors.items()],
        "program": program, "status": status, "now": now, "is_ces_team": can_match(request.user),
    })


@login_required
def overdue(request):
    """Every overdue referral across providers, most late first (CES team)."""
    _require_ces_team(request.user)
    now = timezone.now()
    page = _keyset(request, selectors.overdue_referrals(request.user, now=now), column="due_at", descending=False)
    return render(request, "referrals/overdue.html", {"page": page, "now": now})


def _detail_context(request, referral, **forms):
    user = request.user
    ces = can_match(user)
    provider = can_work_referral(user, referral)
    choices = selectors.next_statuses(user, referral)
    initial = {"version": referral.version}
    context = {
        "referral": referral,
        "history": selectors.history(referral),
        "is_ces_team": ces,
        "is_provider": provider,
        "now": timezone.now(),
        "today": calendar.local_date(),
        "status_form": forms.get("status_form") or (StatusChangeForm(initial=initial, choices=choices)
                                                    if choices else None),
        "move_in_form": forms.get("move_in_form") or (
            MoveInForm(initial={**initial, "move_in_date": referral.move_in_date})
            if provider and referral.enrollment_date else None),
        "transfer_form": forms.get("transfer_form") or (
            TransferForm(initial=initial)
            if provider and referral.transfer_requested_at is None and not referral.awaiting_rereferral
            and not referral.rereferred and (referral.is_open or referral.status.accepts_client) else None),
        "can_rerefer": ces and referral.awaiting_rereferral,
        "ce_enrollment_form": forms.get("ce_enrollment_form") or (
            CEEnrollmentForm(initial={**initial, "ce_enrollment_id": referral.ce_enrollment_id})
            if can_record_ce_enrollment(user) else None),
    }
    return context


@login_required
def detail(request, pk):
    referral = selectors.access_referral(request.user, pk)
    return render(request, "referrals/detail.html", _detail_context(request, referral))


def _apply(request, referral, form, form_name, action, *, beside_fields: bool = False):
    """Run a service for a valid form; on a refusal, show the page again with
    the message (`beside_fields`: a field's beside that field, with what was
    typed) and nothing changed."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except ValidationError as error:
            if "changed since you opened" in " ".join(refusal_messages(error)):
                message_refusal(request, error)
                return redirect(referral)  # reload: show the referral as it is now
            if beside_fields:
                apply_to_form(form, error)
            else:
                message_refusal(request, error)
        else:
            return redirect(referral)
    referral.refresh_from_db()
    return render(request, "referrals/detail.html", _detail_context(request, referral, **{form_name: form}),
                  status=200)


@login_required
@require_POST
def change_status(request, pk):
    referral = selectors.access_referral(request.user, pk)
    form = StatusChangeForm(request.POST, choices=selectors.next_statuses(request.user, referral))

    def action(data):
        services.referral_change_status(actor=request.user, referral_id=referral.pk, to_status=data["to_status"],
                                        note=data["note"], expected_version=data["version"],
                                        enrollment_date=data["enrollment_date"])
        messages.success(request, f"Need status set to “{data['to_status']}”.")

    return _apply(request, referral, form, "status_form", action)


@login_required
@require_POST
def record_move_in(request, pk):
    referral = selectors.access_referral(request.user, pk)
    if not can_work_referral(request.user, referral):
        raise PermissionDenied("Only the housing provider's staff record the move-in date.")
    form = MoveInForm(request.POST)

    def action(data):
        services.referral_record_move_in(actor=request.user, referral_id=referral.pk,
                                         move_in_date=data["move_in_date"], expected_version=data["version"])
        messages.success(request, "Housing move-in date recorded.")

    return _apply(request, referral, form, "move_in_form", action)


@login_required
@require_POST
def record_ce_enrollment(request, pk):
    """The CES team records the client's CE enrollment ID in the HMIS. A
    refusal is said beside the field, with what was typed, and saves nothing."""
    referral = selectors.access_referral(request.user, pk)
    if not can_record_ce_enrollment(request.user):
        raise PermissionDenied("Only the CES team records the client's CE enrollment ID.")

    def action(data):
        services.referral_record_ce_enrollment(actor=request.user, referral_id=referral.pk,
                                               ce_enrollment_id=data["ce_enrollment_id"],
                                               expected_version=data["version"])
        messages.success(request, f"CE enrollment ID recorded: {data['ce_enrollment_id']}.")

    return _apply(request, referral, CEEnrollmentForm(request.POST), "ce_enrollment_form", action,
                  beside_fields=True)


@login_required
@require_POST
def request_transfer(request, pk):
    referral = selectors.access_referral(request.user, pk)
    if not can_work_referral(request.user, referral):
        raise PermissionDenied("Only the housing provider's staff request a transfer.")
    form = TransferForm(request.POST)

    def action(data):
        services.referral_request_transfer(actor=request.user, referral_id=referral.pk, reason=data["reason"],
                                           expected_version=data["version"])
        messages.success(request, "Transfer requested. The CES team will re-refer the client.")

    return _apply(request, referral, form, "transfer_form", action)


@login_required
def create(request):
    _require_ces_team(request.user)
    form = ReferralCreateForm(request.POST or None, initial={"hmis_client_id": request.GET.get("client", "")})
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            referral = services.referral_create(
                actor=request.user, program=data["program"], hmis_client_id=data["hmis_client_id"],
                contact_name=data["contact_name"], contact_phone=data["contact_phone"],
                contact_email=data["contact_email"], contact_notes=data["contact_notes"])
        except ValidationError as error:
            apply_to_form(form, error)
        else:
            messages.success(request, f"Referral created: client {referral.hmis_client_id} to "
                                      f"{referral.program.name}.")
            return redirect(referral)
    return render(request, "referrals/create.html", {"form": form})


@login_required
def rerefer(request, pk):
    referral = selectors.access_referral(request.user, pk)
    _require_ces_team(request.user)
    form = RereferForm(request.POST or None, initial={"version": referral.version})
    if request.method == "POST" and form.is_valid():
        try:
            new = services.referral_rerefer(actor=request.user, referral_id=referral.pk,
                                            program=form.cleaned_data["program"], note=form.cleaned_data["note"],
                                            expected_version=form.cleaned_data["version"])
        except ValidationError as error:
            apply_to_form(form, error)
        else:
            messages.success(request, f"Client re-referred to {new.program.name}.")
            return redirect(new)
    return render(request, "referrals/rerefer.html", {"form": form, "referral": referral})


@login_required
def providers(request):
    """The CES team's scorecard across housing providers: overdue referrals by
    agency and the share of changes within standard, month by month."""
    _require_ces_team(request.user)
    scores, months = selectors.provider_scorecard(request.user)
    return render(request, "referrals/providers.html", {
        "page": Paginator(scores, COUNTS_PAGE_SIZE).get_page(request.GET.get("page")), "months": months,
        "is_ces_team": True})


@login_required
def timeliness(request):
    """Monthly timeliness per provider, as a chart and a table (figures, no client data)."""
    selectors.require_referral_counts(request.user)
    organizations = list(selectors.referral_organizations(request.user).order_by("name"))
    chosen = request.GET.get("agency")
    if chosen:
        organization = get_object_or_404(Organization, pk__in=[o.pk for o in organizations], slug=chosen)
    else:
        organization = organizations[0] if organizations else None
    figures, statuses = selectors.monthly_timeliness(organization) if organization else ([], [])
    target = ReferralPolicy.current().timeliness_target_percent
    rows = [
        {"figure": f, "medians": [f.median_days.get(s.pk) for s in statuses]} for f in figures
    ]
    return render(request, "referrals/timeliness.html", {
        "works_referrals": sees_client_data(request.user),
        "organizations": organizations, "organization": organization, "rows": rows, "statuses": statuses,
        "chart": timeliness_chart(figures, target_percent=target), "target_percent": target,
    })


def _due(due) -> str:
    """The deadline as the pages word it: a day deadline (stored as the local
    midnight that ends it) is that day, not the next; any other, its moment."""
    if due is None:
        return ""
    return hud.date_value(calendar.deadline_day(due)) if calendar.by_end_of_day(due) else hud.datetime_value(due)


@login_required
def export(request):
    """CSV of referrals with their status history and HUD 4.20.D referral
    result, for CoC reporting. No contact details: reporting needs none."""
    _require_ces_team(request.user)
    start = inputs.parse_date(request.GET.get("from"))
    end = inputs.parse_date(request.GET.get("to"))
    queryset = (selectors.visible_referrals(request.user)
                .select_related("program__organization", "program__program_type", "status", "referred_by")
                .prefetch_related(Prefetch("transitions", queryset=ReferralTransition.objects.select_related(
                    "from_status", "to_status", "actor").order_by("made_at", "id")))
                .order_by("referred_at", "id"))
    if start:
        queryset = queryset.filter(referred_at__gte=calendar.start_of_day(start))
    if end:
        queryset = queryset.filter(referred_at__lt=calendar.end_of_day(end))
    # Names, reasons and notes are typed by people: nothing in them may run as
    # a formula when the file is opened in a spreadsheet (csv_chunks escapes
    # every cell, whatever its type).
    header = [
        "referral_id", "hmis_client_id", "agency", "program", "program_type", "referred_at", "referred_by",
        "need_status", "open", "status_since", "due_at", "enrollment_date", "housing_move_in_date",
        "hud_4_20_d_referral_result", "hud_4_20_d_referral_result_label", "transfer_requested_at",
        "transfer_reason", "rereferred_from", "status_history",
    ]

    def rows():
        for referral in queryset.iterator(chunk_size=2000):
            status = referral.status
            result = status.referral_result if status.is_final else None
            history = " | ".join(
                f"{calendar.local_date(t.made_at).isoformat()} {timezone.localtime(t.made_at):%H:%M} "
                f"{t.from_status.name if t.from_status else 'referred'} -> {t.to_status.name} "
                f"({t.actor_label}){': ' + t.note if t.note else ''}"
                for t in referral.transitions.all()
            )
            yield [
                referral.pk, referral.hmis_client_id, referral.program.organization.name, referral.program.name,
                referral.program.program_type.name, hud.datetime_value(referral.referred_at),
                referral.referred_by or "", status.name, "yes" if referral.is_open else "no",
                hud.datetime_value(referral.status_entered_at), _due(referral.due_at),
                referral.enrollment_date or "", referral.move_in_date or "", result or "",
                NeedStatus.ReferralResult(result).label if result else "",
                hud.datetime_value(referral.transfer_requested_at), referral.transfer_reason,
                referral.rereferred_from_id or "", history,
            ]

    response = StreamingHttpResponse(csv_chunks(rows(), header=header), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="ces-referrals-{calendar.local_date():%Y-%m-%d}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


NO_ENROLLMENT_SHOWN = 200  # referrals listed by name on the HUD export page; the rest are counted


@login_required
def hud_events_page(request):
    """What HUD's Event.csv of a date range will hold, and what it leaves out
    (referrals without the client's CE enrollment ID, each linked to where it
    is recorded; referrals to program types with no HUD referral event), with
    the file to download. For the CES team."""
    _require_ces_team(request.user)
    start, end = inputs.parse_date(request.GET.get("from")), inputs.parse_date(request.GET.get("to"))
    summary = selectors.hud_event_summary(selectors.visible_referrals(request.user), start=start, end=end,
                                          shown=NO_ENROLLMENT_SHOWN)
    query = {key: value for key, value in (("from", start), ("to", end)) if value}
    return render(request, "referrals/hud_events.html", {
        "summary": summary, "is_ces_team": True, "start": start, "end": end,
        "download_query": "&".join(f"{key}={value:%Y-%m-%d}" for key, value in query.items()),
    })


@login_required
def hud_events(request):
    """HUD's Event.csv of the referrals made in a date range, with its
    Export.csv, in one zip (FY2026 HMIS CSV Format Specifications): for the
    CES team, like the CSV export. `manage.py export_hud_events` writes the
    same file."""
    _require_ces_team(request.user)
    export = hud.build(selectors.visible_referrals(request.user), start=inputs.parse_date(request.GET.get("from")),
                       end=inputs.parse_date(request.GET.get("to")), user=request.user)
    response = HttpResponse(export.content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
