"""Views only parse input and call selectors and services (STYLE §2)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import access
from hmis_portal.core.audit import events_for
from hmis_portal.core.documents import document_response
from hmis_portal.core.errors import apply_to_form, message_refusal

from . import selectors, services
from .forms import BatchForm, DeclineForm, EnteredForm, ProposeForm, ReasonForm
from .models import DataPartnership, PartnershipPolicy

PAGE_SIZE = 25
BATCH_PAGE_SIZE = 25


def _list_page(request, *, organization=None):
    now = timezone.now()
    partnerships = selectors.partnership_list(request.user, now=now, organization=organization)
    return Paginator(partnerships, PAGE_SIZE).get_page(request.GET.get("page")), now


@login_required
def partnership_list(request):
    """Every data partnership the person may see, most overdue first: the
    CoC staff who look after them see all; agency people, their agencies'."""
    access.require(access.can_see_partnerships(request.user),
                   "Data partnerships are for agency people and the CoC's implementation team.")
    page, now = _list_page(request)
    return render(request, "partnerships/list.html", {
        "page": page, "now": now, "sees_all": access.sees_every_partnership(request.user),
        "proposing_agencies": [] if access.is_coc_staff(request.user) else list(
            access.organizations_where(request.user, [access.ED]).order_by("name")),
    })


@login_required
def agency(request, slug):
    """One agency's data partnerships, as the agency that sends intakes or as the partner."""
    organization = access.access_organization(request.user, slug)
    access.require(access.can_see_agency_partnerships(request.user, organization),
                   "Data partnerships are for the agency's people and the CoC's implementation team.")
    page, now = _list_page(request, organization=organization)
    return render(request, "partnerships/agency.html", {
        "organization": organization, "page": page, "now": now,
        "can_propose": access.can_propose_partnership(request.user, organization),
        "entry_business_days": PartnershipPolicy.current().entry_business_days,
    })


@login_required
def propose(request, slug):
    organization = access.access_organization(request.user, slug)
    access.require(access.can_propose_partnership(request.user, organization),
                   "Only the agency's Executive Director proposes a data partnership.")
    partners = selectors.partner_choices(organization)
    form = ProposeForm(request.POST if request.method == "POST" else None, request.FILES or None, partners=partners)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            partnership = services.partnership_propose(actor=request.user, agency=organization,
                                                       partner=data["partner"], upload=data["moa"],
                                                       moa_signed_on=data["moa_signed_on"])
        except ValidationError as error:
            apply_to_form(form, error)
        else:
            messages.success(request, f"Partnership proposed. {partnership.partner}'s Executive Director was asked "
                                      "to accept it.")
            return redirect(partnership)
    return render(request, "partnerships/propose.html", {
        "organization": organization, "form": form, "has_partners": partners.exists(),
        "entry_business_days": PartnershipPolicy.current().entry_business_days,
    })


def _detail(request, partnership, status=200, **forms):
    user, now = request.user, timezone.now()
    active = partnership.status == DataPartnership.Status.ACTIVE
    can_decide = partnership.status == DataPartnership.Status.PROPOSED and access.can_decide_partnership(
        user, partnership)
    can_end = partnership.is_open and access.can_end_partnership(user, partnership)
    can_send = active and access.can_send_intakes(user, partnership)
    return render(request, "partnerships/detail.html", {
        "partnership": partnership,
        "now": now,
        "timeliness": selectors.timeliness(partnership, now=now),
        "batches": Paginator(selectors.batches(partnership), BATCH_PAGE_SIZE).get_page(request.GET.get("page")),
        "can_decide": can_decide,
        "can_end": can_end,
        "can_read_moa": access.can_read_moa(user, partnership),
        "can_enter": access.can_record_entry(user, partnership),
        "decline_form": forms.get("decline_form") or (DeclineForm(prefix="decline") if can_decide else None),
        "end_form": forms.get("end_form") or (ReasonForm(prefix="end") if can_end else None),
        "batch_form": forms.get("batch_form") or (BatchForm() if can_send else None),
        "entered_form": EnteredForm(),
        "entry_business_days": PartnershipPolicy.current().entry_business_days,
        "events": events_for(partnership)[:50],
    }, status=status)


@login_required
def detail(request, pk):
    return _detail(request, selectors.access_partnership(request.user, pk))


@login_required
def moa(request, pk):
    partnership = selectors.access_partnership(request.user, pk)
    access.require(access.can_read_moa(request.user, partnership),
                   "The signed MOA is for the agencies' leads and the CoC's implementation team.")
    return document_response(partnership.moa, f"data-partnership-moa-{partnership.pk}")


def _run(request, partnership, call, success, *, form=None, form_name=None):
    """Call a service; a refusal about a field shows the form again with it,
    any other (a double submit, someone else first) is a message on the page
    as it is now. Nothing changes either way."""
    try:
        call()
    except ValidationError as error:
        fields = set(getattr(error, "error_dict", {}))
        if form is not None and fields & set(form.fields):
            apply_to_form(form, error)
            return _detail(request, selectors.access_partnership(request.user, partnership.pk), **{form_name: form})
        message_refusal(request, error)
    else:
        messages.success(request, success)
    return redirect("partnerships:detail", partnership.pk)


@login_required
@require_POST
def accept(request, pk):
    partnership = selectors.access_partnership(request.user, pk)
    refusal = access.partnership_decision_refusal(request.user, partnership)
    access.require(not refusal, refusal)
    return _run(request, partnership,
                lambda: services.partnership_accept(actor=request.user, partnership_id=partnership.pk),
                "Partnership accepted: it is active.")


@login_required
@require_POST
def decline(request, pk):
    partnership = selectors.access_partnership(request.user, pk)
    refusal = access.partnership_decision_refusal(request.user, partnership)
    access.require(not refusal, refusal)
    form = DeclineForm(request.POST, prefix="decline")
    if not form.is_valid():
        return _detail(request, partnership, decline_form=form)
    return _run(request, partnership,
                lambda: services.partnership_decline(actor=request.user, partnership_id=partnership.pk,
                                                     reason=form.cleaned_data["reason"]),
                "Partnership declined; the agency was told why.", form=form, form_name="decline_form")


@login_required
@require_POST
def end(request, pk):
    partnership = selectors.access_partnership(request.user, pk)
    access.require(access.can_end_partnership(request.user, partnership),
                   "Only either agency's Executive Director, or the CoC's implementation team, ends a partnership.")
    form = ReasonForm(request.POST, prefix="end")
    if not form.is_valid():
        return _detail(request, partnership, end_form=form)
    return _run(request, partnership,
                lambda: services.partnership_end(actor=request.user, partnership_id=partnership.pk,
                                                 reason=form.cleaned_data["reason"]),
                "Partnership ended.", form=form, form_name="end_form")


@login_required
@require_POST
def batch_new(request, pk):
    partnership = selectors.access_partnership(request.user, pk)
    access.require(access.can_send_intakes(request.user, partnership),
                   "Only the people of the agency that sends the intakes record a batch.")
    form = BatchForm(request.POST)
    if not form.is_valid():
        return _detail(request, partnership, batch_form=form)
    data = form.cleaned_data
    return _run(request, partnership,
                lambda: services.intake_batch_record(
                    actor=request.user, partnership_id=partnership.pk, received_at=data["received_at"],
                    intake_count=data["intake_count"], reference=data["reference"], note=data["note"]),
                f"Batch of {data['intake_count']} recorded; {partnership.partner} was asked to enter it into HMIS.",
                form=form, form_name="batch_form")


@login_required
@require_POST
def batch_entered(request, pk):
    batch = selectors.access_batch(request.user, pk)
    partnership = batch.partnership
    access.require(access.can_record_entry(request.user, partnership),
                   "Only the people of the HMIS data partner record a batch as entered.")
    form = EnteredForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"Batch {batch.pk}: {' '.join(errors)}")
        return redirect("partnerships:detail", partnership.pk)
    return _run(request, partnership,
                lambda: services.intake_batch_record_entry(actor=request.user, batch_id=batch.pk,
                                                           entered_at=form.cleaned_data["entered_at"]),
                f"Batch {batch.pk} recorded as entered into HMIS.")
