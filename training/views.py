"""The user's side of training: sessions, registering (waitlist, cancel,
.ics), certificates and signed forms. CoC staff work in the admin."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import (can_download_form_template, can_register_for_training, can_sign_form_as, require,
                             training_order_refusal)
from hmis_portal.core.documents import document_response
from hmis_portal.core.errors import apply_to_form, message_refusal

from . import selectors, services
from .calendar import registration_calendar
from .forms import CertificateForm, FormSignForm, FormUploadForm
from .models import APPROVAL, Course, FormSignature, FormTemplate, RequiredForm, Registration, Review, Signer


def _agency_person(user):
    """Training records belong to agency staff; CoC staff have none."""
    require(can_register_for_training(user), "CoC staff manage sessions and records in the admin.")


@login_required
def sessions(request):
    course_code = request.GET.get("course") or None
    course = Course.objects.filter(code=course_code).first() if course_code else None
    can_register = can_register_for_training(request.user)
    # Where the CoC approves access requests first, the page says why nobody
    # registers yet instead of offering a button the service refuses.
    not_yet = training_order_refusal(
        request.user, request.user, course,
        waits_for_approval=any(APPROVAL in c.waits_for for c in Course.objects.filter(active=True)),
    ) if can_register else ""
    return render(request, "training/sessions.html", {
        "sessions": selectors.upcoming_sessions(course_code=course.code if course else None),
        "course": course,
        "registrations": selectors.my_registrations(request.user) if can_register else [],
        "registered_session_ids": set(selectors.my_registrations(request.user).values_list("session_id", flat=True)),
        "can_register": can_register and not not_yet,
        "not_yet": not_yet.removesuffix(" Nothing was saved."),
    })


@login_required
@require_POST
def session_register(request, pk):
    _agency_person(request.user)
    session = get_object_or_404(selectors.upcoming_sessions(), pk=pk)
    try:
        registration = services.session_register(actor=request.user, session_id=session.pk)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        if registration.status == Registration.Status.WAITLISTED:
            messages.warning(request, f"{session} is full: you are on the waitlist and will be told if a seat opens.")
        else:
            messages.success(request, f"You are registered for {session}.")
    return redirect("training:sessions")


@login_required
@require_POST
def registration_cancel(request, pk):
    registration = selectors.access_registration(request.user, pk)
    try:
        services.registration_cancel(actor=request.user, registration_id=registration.pk)
    except ValidationError as exc:
        message_refusal(request, exc)
    else:
        messages.success(request, f"Your registration for {registration.session} is cancelled.")
    return redirect("training:sessions")


@login_required
def registration_ics(request, pk):
    registration = selectors.access_registration(request.user, pk)
    session = registration.session
    response = HttpResponse(registration_calendar(registration), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{session.course.code}-{session.starts_at:%Y%m%d}.ics"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def certificate_upload(request):
    _agency_person(request.user)
    initial = {}
    if request.GET.get("course"):
        initial["course"] = Course.objects.filter(code=request.GET["course"]).first()
    form = CertificateForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.certificate_submit(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_to_form(form, exc)
        else:
            messages.success(request, "Certificate uploaded. CoC training staff will verify it.")
            return redirect("my-access")
    return render(request, "training/certificate_upload.html", {"form": form})


def _form_page(request, required, owner):
    """One person's form: its blank version to download, who has signed and
    who is next, and, for the next signer, the portal signature or the upload
    the form's policy allows. The services decide who may sign."""
    own = owner.pk == request.user.pk
    # Only the form that was sent is bound: the other, beside it on the page, has nothing wrong with it.
    signing = request.method == "POST" and "typed_name" in request.POST
    sent = request.POST if request.method == "POST" else None
    # On a visit nothing was sent: request.FILES is then empty, not None, and
    # would bind the upload form (and show "This field is required").
    uploading = sent is not None and not signing
    upload = (FormUploadForm(sent if uploading else None, request.FILES if uploading else None)
              if required.by_upload else None)
    sign = (FormSignForm(sent if signing else None, attestation=required.attestation)
            if required.in_portal else None)
    if request.method == "POST":
        form = sign if signing else upload
        if form is None:
            messages.error(request, f"{required} is not signed that way.")
        elif form.is_valid():
            try:
                if signing:
                    services.form_sign(actor=request.user, form=required, owner=owner, **form.cleaned_data)
                else:
                    services.form_submit(actor=request.user, form=required, owner=owner,
                                         document=form.cleaned_data["document"])
            except ValidationError as exc:
                # A field to correct stays on the form; a refusal of the turn (not yours yet,
                # already signed) is a message, as the form is not shown then.
                if hasattr(exc, "error_dict"):
                    apply_to_form(form, exc)
                else:
                    message_refusal(request, exc)
            except PermissionDenied as exc:
                message_refusal(request, exc)
            else:
                progress = selectors.form_progress(required, owner)
                if progress.complete:
                    messages.success(request, f"{required} signed by everyone; it is complete.")
                elif progress.latest and progress.latest.status == Review.SUBMITTED:
                    messages.success(request, f"{required} {'signed' if signing else 'uploaded'}. CoC training "
                                              "staff will verify it.")
                else:
                    messages.success(request, f"{required} signed. Next to sign: "
                                              f"{Signer(progress.next_role).label}; they have been told.")
                return redirect("my-access") if own else redirect(request.path)
    progress = selectors.form_progress(required, owner)
    template = services.current_template(form=required)
    may_act = bool(progress.next_role) and can_sign_form_as(request.user, owner, progress.next_role)
    return render(request, "training/form_upload.html", {
        "required": required, "owner": owner, "own": own, "progress": progress, "versions": progress.versions,
        "verified": progress.complete, "template": template, "may_act": may_act, "form": upload, "sign_form": sign,
    })


@login_required
@require_http_methods(["GET", "POST"])
def form_upload(request, code):
    """The signed-in person's own form."""
    _agency_person(request.user)
    required = get_object_or_404(RequiredForm, code=code)
    return _form_page(request, required, request.user)


@login_required
@require_http_methods(["GET", "POST"])
def form_person(request, code, user_id):
    """Another person's form, for the agency's signers and filer (and to look at, for its leads)."""
    owner = selectors.access_form_owner(request.user, user_id)
    required = get_object_or_404(RequiredForm, code=code, active=True)
    return _form_page(request, required, owner)


@login_required
def form_template_document(request, pk):
    template = get_object_or_404(FormTemplate.objects.select_related("form"), pk=pk)
    require(can_download_form_template(request.user, template.form.signer_roles),
            "Blank forms are for the people who sign them and CoC staff.")
    return document_response(template.document, f"{template.form.code}-blank-v{template.version}")


@login_required
def signature_document(request, pk):
    signature = get_object_or_404(FormSignature.objects.select_related("submission__form"), pk=pk)
    submission = selectors.access_form_submission(request.user, signature.submission_id)
    return document_response(signature.document, f"{submission.form.code}-v{submission.version}-{signature.position + 1}")


@login_required
def certificate_document(request, pk):
    certificate = selectors.access_certificate(request.user, pk)
    return document_response(certificate.document, f"certificate-{certificate.course.code}-{certificate.pk}")


@login_required
def form_document(request, pk):
    submission = selectors.access_form_submission(request.user, pk)
    return document_response(submission.document, f"{submission.form.code}-v{submission.version}")
