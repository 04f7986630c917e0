"""Portal pages for steps 1 and 2. Views parse, check access, and call a
service; they change nothing themselves (STYLE §2)."""

from typing import NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.safestring import mark_safe
from django.utils.text import get_text_list
from django.views.decorators.http import require_POST

from accounts import access
from accounts import selectors as account_selectors
from accounts.access import access_organization, require, require_persona
from accounts.models import Organization, Persona
from accounts.signin.lockout import client_ip
from hmis_portal.core import cached, registry
from hmis_portal.core.addresses import configuration, kept
from hmis_portal.core.audit import agency_history, events_for
from hmis_portal.core.calendar import local_date
from hmis_portal.core.documents import document_response
from hmis_portal.core.exports import CSV_CONTENT_TYPE, csv_chunks
from hmis_portal.core.errors import apply_to_form, message_refusal

from . import selectors, services, spreadsheet
from .filtersets import StatusListFilter
from .forms import (AgreementUploadForm, AnswerForm, CESRolesForm, JoinAcceptForm, JoinDeclineForm,
                    JoinRequestForm, ProblemForm, ProgramRequestForm, TerminateForm)
from .models import (CESOrganizationRole, JoinRequest, OnboardingPolicy, OrganizationAgreement, OrganizationCESRole,
                     Program, ProgramType)


# Programs on one page of an agency's participation page.
PROGRAMS_PAGE = 50


@login_required
def participation(request, slug):
    """An organization's steps 1 and 2: agreement, CES roles, programs, stage.
    The same queries at 10 programs, people and events as at 1,000: the
    programs are paged, the people bounded, the history paged by cursor."""
    user = request.user
    organization = access_organization(user, slug)
    people, more_people, personas = account_selectors.organization_people(organization, reader=user)
    # Every predicate below asks the reader's personas here: read once, with the people.
    access.remember_personas(user, organization, personas)
    agreements = list(selectors.organization_agreements(organization))
    # All programs, in their few columns: the stage, the progress and the
    # tasks count them; the table shows a page of them.
    programs = list(selectors.program_summaries(organization))
    roles = list(selectors.ces_roles(organization))
    today = local_date()
    program_page = Paginator(programs, PROGRAMS_PAGE).get_page(request.GET.get("programs"))
    history = agency_history(organization, user, before=request.GET.get("before", ""))
    return render(request, "onboarding/participation.html", {
        "organization": organization,
        "agreements": agreements,
        "open_agreement": next((a for a in agreements if a.is_open), None),
        "in_force": next((a for a in agreements if a.in_force_on(today)), None),
        "programs": program_page,
        "program_count": len(programs),
        "roles": roles,
        "stage": selectors.stage_from(agreements, programs, today=today),
        "steps": selectors.progress(organization, agreements, programs, today=today, people=people),
        "members": [(member, [Persona(code).label for code in codes]) for member, codes in people],
        "more_members": more_people,
        # Later stages' pages about this agency (users' checklists, data
        # partnerships), each shown to those its own view serves.
        "links": registry.participation_links.gather(organization, user),
        "can_invite": access.can_invite(user, organization),
        "can_sign": access.can_sign_agreement(user, organization),
        "is_program_manager": access.can_manage_programs(user, organization),
        "can_read_agreements": access.can_read_agreements(user, organization),
        "can_request_programs": any(a.status in (OrganizationAgreement.Status.SUBMITTED,
                                                 OrganizationAgreement.Status.EXECUTED) for a in agreements),
        # What waits on the reader here, from what the page already read.
        "tasks": selectors.organization_queue(organization, personas, agreements, today=today,
                                              programs=programs, has_roles=bool(roles)),
        "events": history.events,
        "older_events": history.older,
        "newer_events": history.newer,
    })


@login_required
def agreement_upload(request, slug):
    organization = access_organization(request.user, slug)
    require_persona(request.user, organization, [Persona.EXECUTIVE_DIRECTOR], "upload the Organization Agreement")
    current = selectors.open_agreement(organization)
    if current is not None and current.status == OrganizationAgreement.Status.SUBMITTED:
        messages.info(request, "Your agreement is already waiting for the CoC's countersignature.")
        return redirect("onboarding:agreement-detail", current.pk)
    form = AgreementUploadForm(request.POST if request.method == "POST" else None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            agreement = services.agreement_upload(
                actor=request.user, organization=organization, upload=data["document"],
                signer_name=data["signer_name"], signer_title=data["signer_title"], signed_on=data["signed_on"],
                submit=request.POST.get("action") != "draft",
            )
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            if agreement.status == OrganizationAgreement.Status.SUBMITTED:
                messages.success(request, "Your signed agreement was submitted. CoC staff will countersign it.")
            else:
                messages.success(request, "Your agreement was saved as a draft. Submit it when it is ready.")
            return redirect("onboarding:agreement-detail", agreement.pk)
    return render(request, "onboarding/agreement_upload.html",
                  {"organization": organization, "form": form, "current": current,
                   "template": selectors.current_agreement_template()})


@login_required
def agreement_template(request):
    """The current blank Organization Agreement, for those who sign or countersign it."""
    require(access.can_download_agreement_template(request.user),
            "The blank agreement is for Executive Directors and the CoC's implementation team.")
    template = selectors.current_agreement_template()
    if template is None:
        raise Http404("No blank agreement yet")
    return document_response(template.document, f"organization-agreement-blank-v{template.version}")


def _agreement_for_reader(request, pk):
    agreement = selectors.access_agreement(request.user, pk)
    require(access.can_read_agreements(request.user, agreement.organization),
            "Signed agreements are for the agency's leads and the CoC staff who countersign them.")
    return agreement


@login_required
def agreement_detail(request, pk):
    agreement = _agreement_for_reader(request, pk)
    return render(request, "onboarding/agreement_detail.html", {
        "agreement": agreement,
        "organization": agreement.organization,
        "copies": selectors.agreement_copies(agreement),
        "can_sign": access.can_sign_agreement(request.user, agreement.organization),
        "can_terminate": (agreement.status == OrganizationAgreement.Status.EXECUTED
                          and access.can_terminate_agreement(request.user, agreement)),
        "terminate_form": TerminateForm(),
        "events": events_for(agreement),
    })


@login_required
@require_POST
def agreement_submit(request, pk):
    agreement = selectors.access_agreement(request.user, pk)
    require_persona(request.user, agreement.organization, [Persona.EXECUTIVE_DIRECTOR],
                    "submit the Organization Agreement")
    try:
        services.agreement_submit(actor=request.user, agreement=agreement)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        messages.success(request, "Your signed agreement was submitted. CoC staff will countersign it.")
    return redirect("onboarding:agreement-detail", agreement.pk)


@login_required
@require_POST
def agreement_terminate(request, pk):
    agreement = selectors.access_agreement(request.user, pk)
    require(access.can_terminate_agreement(request.user, agreement),
            "Only the CoC's implementation team and system administrators terminate agreements.")
    form = TerminateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the agreement is terminated; the agency will see it. "
                       + " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("onboarding:agreement-detail", agreement.pk)
    try:
        services.agreement_terminate(actor=request.user, agreement=agreement, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        # Named as the notice went: to the agency's people in these personas, not to personas it lacks.
        told = selectors.personas_told(agreement.organization, services.TOLD_OF_TERMINATION)
        if not told:
            told_why = "The agency has none of the people a termination is sent to; no one there was told."
        else:
            told_why = f"The agency's {get_text_list(told, 'and')} {'were' if len(told) > 1 else 'was'} told why."
        messages.success(request, f"The agreement was terminated. {told_why}")
    return redirect("onboarding:agreement-detail", agreement.pk)


@login_required
def agreement_copy(request, pk, version):
    agreement = _agreement_for_reader(request, pk)
    copy = get_object_or_404(agreement.copies, version=version)
    return document_response(copy.document, f"organization-agreement-{agreement.organization.slug}-v{version}")


@login_required
def ces_roles(request, slug):
    organization = access_organization(request.user, slug)
    require_persona(request.user, organization, [Persona.PROGRAM_MANAGER], "name the organization's CES roles")
    current = [link.role for link in selectors.ces_roles(organization)]
    form = CESRolesForm(request.POST if request.method == "POST" else None, initial={"roles": current})
    if request.method == "POST" and form.is_valid():
        try:
            services.ces_roles_set(actor=request.user, organization=organization, roles=form.cleaned_data["roles"])
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            messages.success(request, "The organization's CES roles are saved.")
            return redirect("onboarding:participation", organization.slug)
    return render(request, "onboarding/ces_roles.html", {"organization": organization, "form": form})


@login_required
def program_request(request, slug):
    organization = access_organization(request.user, slug)
    require_persona(request.user, organization, [Persona.PROGRAM_MANAGER], "request program setup")
    allowed = selectors.agreement_submitted(organization)
    form = ProgramRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            program = services.program_setup_request(actor=request.user, organization=organization,
                                                     **form.cleaned_data)
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            if program.setup_status == Program.SetupStatus.SETUP_COMPLETE:
                messages.success(request, f"{program.program_type} programs need no setup modification: "
                                          "confirm the setup when you have checked it.")
            else:
                messages.success(request, "Your program setup request was sent to the HMIS implementation team.")
            return redirect("onboarding:program-detail", program.pk)
    return render(request, "onboarding/program_request.html",
                  {"organization": organization, "form": form, "allowed": allowed})


@login_required
def program_detail(request, pk):
    program = selectors.access_program(request.user, pk)
    is_pm = access.can_manage_programs(request.user, program.organization)
    return render(request, "onboarding/program_detail.html", {
        "program": program,
        "organization": program.organization,
        "is_program_manager": is_pm,
        "answer_form": AnswerForm(),
        "problem_form": ProblemForm(),
        "events": events_for(program),
    })


def _program_action(request, pk, action, form_class=None, success=""):
    program = selectors.access_program(request.user, pk)
    require_persona(request.user, program.organization, [Persona.PROGRAM_MANAGER], "do this")
    kwargs = {}
    if form_class is not None:
        form = form_class(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return redirect("onboarding:program-detail", program.pk)
        kwargs = form.cleaned_data
    try:
        action(actor=request.user, program=program, **kwargs)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        messages.success(request, success)
    return redirect("onboarding:program-detail", program.pk)


@login_required
@require_POST
def program_answer(request, pk):
    return _program_action(request, pk, services.program_setup_answer, AnswerForm,
                           "Your answer was sent to the implementation team.")


@login_required
@require_POST
def program_confirm(request, pk):
    return _program_action(request, pk, services.program_setup_confirm, None, "Program setup confirmed.")


@login_required
@require_POST
def program_report_problem(request, pk):
    return _program_action(request, pk, services.program_setup_report_problem, ProblemForm,
                           "The problem was sent to the implementation team.")


# --- the CES Participation Status List ----------------------------------------------------------------------------

def _status_list_filters(request):
    """The list's filters from the query string (`selectors.status_filters`),
    or None when the person must sign in first: the list is for signed-in users
    unless CoC staff made it public (policy)."""
    if not request.user.is_authenticated and not OnboardingPolicy.current().status_list_public:
        return None
    organizations, stage = selectors.status_filters(request.GET)
    return {"organizations": organizations, "stage": stage}


STATUS_LIST_PAGE_SIZE = 100
NONE = mark_safe('<span class="text-muted">—</span>')
LINE = mark_safe("<br>")


# A row of the table, written here once rather than through the template's
# lookups, escapes and tests for each of its cells (a page draws a hundred
# rows). Each value is escaped as Django's `escape` does (`html.escape` of its
# text: the same five characters, replaced in one pass by `ESCAPED`) without
# its per-call check for lazy text: the labels are made text first. The
# agency's name is linked or not by who is looking; the rest of the row is
# the same for everyone.
STATUS_ROW_HEAD = '\n    <tr>\n      <th scope="row" class="fw-normal">'
STATUS_ROW_REST = ('</th>\n      <td>{}</td>\n      <td>{}</td>\n'
                   '      <td>{}</td>\n      <td><span class="badge {}">{}</span>\n</td>\n    </tr>\n  ')
STATUS_PROGRAM = '{} <span class="small text-muted">({}: {})</span>'
ESCAPED = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


class StatusCells(NamedTuple):
    """A row of the list as the table draws it, but for its agency's name's link."""

    pk: int
    slug: str
    name: str  # escaped
    rest: str  # the row's markup after the name


def _status_cells(row, labels: dict) -> StatusCells:
    """A row of the list as the table draws it; `labels` keeps the page's
    escaped labels (the same few stages, agreement statuses and setup
    statuses are written on every row)."""
    programs = []
    for program in row.programs:
        setup_key = ("setup", program.setup_status)
        setup = labels.get(setup_key)
        if setup is None:
            setup = labels[setup_key] = str(program.setup_status_label).translate(ESCAPED)
        programs.append(STATUS_PROGRAM.format(program.name.translate(ESCAPED),
                                              program.program_type.translate(ESCAPED), setup))
    agreement_key = ("agreement", row.agreement and row.agreement.status)
    agreement = labels.get(agreement_key)
    if agreement is None:
        agreement = labels[agreement_key] = str(row.agreement_label).translate(ESCAPED)
    stage_key = ("stage", row.stage)
    stage = labels.get(stage_key)
    if stage is None:
        stage = labels[stage_key] = (row.stage.badge.translate(ESCAPED), str(row.stage_label).translate(ESCAPED))
    return StatusCells(row.pk, row.slug, row.name.translate(ESCAPED), STATUS_ROW_REST.format(
        LINE.join([role.translate(ESCAPED) for role in row.roles]) if row.roles else NONE,
        LINE.join(programs) if programs else NONE, agreement, *stage))


def _status_row(cells: StatusCells, link: str) -> str:
    """A row drawn from its cells, the agency's name linked to `link` when there is one."""
    if link:
        return f'{STATUS_ROW_HEAD}<a href="{link.translate(ESCAPED)}">{cells.name}</a>{cells.rest}'
    return f"{STATUS_ROW_HEAD}{cells.name}{cells.rest}"


def _drawn_status_page(filters: dict, number, today) -> tuple:
    """(how many agencies the list has, the page's number, its rows' `StatusCells`)."""
    page = selectors.status_list_page(number=number, per_page=STATUS_LIST_PAGE_SIZE, today=today, **filters)
    labels = {}
    return page.paginator.count, page.number, [_status_cells(row, labels) for row in page.object_list]


# The unfiltered list's first pages are kept (`core.cached`) until an agency,
# an agreement, a program or an agency's CES roles change (or the names of
# program types and roles), and for the day: the stages are as of today.
STATUS_LIST_KEPT_PAGES = 20
STATUS_LIST_ROWS = tuple(model.cache_name() for model in (
    Organization, OrganizationAgreement, Program, OrganizationCESRole, ProgramType, CESOrganizationRole))

# The address of an agency's participation page with "-" for its slug, by URL configuration.
_PARTICIPATION: dict = {}


def status_list(request):
    """The list a page at a time (the spreadsheet and CSV have every row)."""
    filters = _status_list_filters(request)
    if filters is None:
        return redirect_to_login(request.get_full_path())
    today = local_date()
    number = request.GET.get("page")
    kept_number = selectors.page_number(number)
    if selectors.every_organization(**filters) and 1 <= kept_number <= STATUS_LIST_KEPT_PAGES:
        count, number, cells = cached.read(
            "status-list", lambda: _drawn_status_page(filters, kept_number, today), depends=STATUS_LIST_ROWS,
            part=f"{today.isoformat()}/{kept_number}")
    else:
        count, number, cells = _drawn_status_page(filters, number, today)
    # The pager's figures, from the count the rows were read with.
    page = Paginator(range(count), STATUS_LIST_PAGE_SIZE).page(number)
    # Link the rows of agencies the person may open (their own; all for CoC staff).
    linked = access.seen_among(request.user, [row.pk for row in cells])
    # One address reversed (once per process), the others made from it: a slug is the path's only part.
    pattern = kept(_PARTICIPATION, configuration(), lambda: reverse("onboarding:participation", args=["-"]))
    head, tail = pattern[:pattern.rindex("/-/") + 1], pattern[pattern.rindex("/-/") + 2:]
    rows = mark_safe("".join(_status_row(row, f"{head}{row.slug}{tail}" if row.pk in linked else "") for row in cells))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "onboarding/status_list.html", {
        "fields": StatusListFilter.drawn(request.GET), "rows": rows, "page": page, "query": query.urlencode(),
        "today": today})


def status_list_xlsx(request):
    filters = _status_list_filters(request)
    if filters is None:
        return redirect_to_login(request.get_full_path())
    today = local_date()
    response = HttpResponse(
        spreadsheet.status_list_workbook(selectors.iter_status_list(today=today, **filters), today=today),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="CES_Participation_Status_{today:%Y-%m-%d}.xlsx"'
    return response


def status_list_csv(request):
    """Every row, streamed: the agencies are read a chunk at a time as the file is sent."""
    filters = _status_list_filters(request)
    if filters is None:
        return redirect_to_login(request.get_full_path())
    today = local_date()
    rows = spreadsheet.flat_rows(selectors.iter_status_list(today=today, **filters))
    response = StreamingHttpResponse(csv_chunks(rows, header=spreadsheet.HEADERS), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="CES_Participation_Status_{today:%Y-%m-%d}.csv"'
    return response


# --- CoC staff dashboard ------------------------------------------------------------------------------------------

@login_required
def coc_queue(request):
    """What waits on CoC staff in steps 1–2, with age in business days. The work itself is done in the admin."""
    require(access.can_work_onboarding_queue(request.user),
            "Only CoC staff who countersign agreements or set up programs work these queues.")
    return render(request, "onboarding/coc_queue.html", {
        "queue": selectors.coc_queue(request.user),
        "can_accept_join_requests": access.can_accept_join_requests(request.user)})


# --- joining ------------------------------------------------------------------------------------------------------

JOIN_LIMIT_MESSAGE = ("Many requests to join have come from your address in the last hour, so this one was not "
                      "sent. Try again in an hour, or email the CoC's HMIS team.")


def _client_key(request) -> str:
    """The sender's address as the public page's limit counts it: the one the
    sign-in lockout counts (X-Forwarded-For is believed only from our own
    proxies), so a script cannot reset its count by inventing a header; kept
    as a keyed hash, so the stored requests do not hold people's addresses."""
    address = client_ip(request) or "unknown"
    return salted_hmac("onboarding.join-request.client", address, algorithm="sha256").hexdigest()


def join(request):
    """The public "Join HMIS" page: an organization asks to take part (no sign-in)."""
    form = JoinRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.join_request_create(**form.cleaned_data, client_key=_client_key(request))
        except services.JoinLimitReached:
            # The public page writes without a sign-in: each address may send
            # only JOIN_REQUESTS_PER_HOUR requests an hour.
            form.add_error(None, JOIN_LIMIT_MESSAGE)
            return render(request, "onboarding/join.html", {"form": form}, status=429)
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            return render(request, "onboarding/join_received.html",
                          {"organization_name": form.cleaned_data["organization_name"],
                           "email": form.cleaned_data["contact_email"]})
    return render(request, "onboarding/join.html", {"form": form})


@login_required
def join_request(request, pk):
    """The implementation team accepts (creating the agency and inviting its
    leads) or declines (with a reason) an organization's request to join."""
    join_request = selectors.access_join_request(request.user, pk)
    accept_form = JoinAcceptForm(request.POST if request.POST.get("action") == "accept" else None,
                                 initial={"program_manager_email": join_request.contact_email})
    decline_form = JoinDeclineForm(request.POST if request.POST.get("action") == "decline" else None)
    if request.method == "POST":
        form = accept_form if request.POST.get("action") == "accept" else decline_form
        if form.is_valid():
            try:
                if form is accept_form:
                    organization = services.join_request_accept(actor=request.user, join_request=join_request,
                                                                **form.cleaned_data)
                else:
                    services.join_request_decline(actor=request.user, join_request=join_request,
                                                  **form.cleaned_data)
            except ValidationError as exc:
                apply_to_form(form, exc)
            else:
                if form is accept_form:
                    messages.success(request, f"{organization} was created; its Executive Director and Program "
                                              "Manager were invited by email.")
                    return redirect("onboarding:participation", organization.slug)
                messages.success(request, "The request was declined and the contact told why.")
                return redirect("onboarding:coc-queue")
    return render(request, "onboarding/join_request.html", {
        "join_request": join_request, "accept_form": accept_form, "decline_form": decline_form,
        "events": events_for(join_request),
        "is_open": join_request.status == JoinRequest.Status.REQUESTED,
    })
