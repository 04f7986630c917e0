"""CoC training staff work here: the policy rows, sessions, attendance, and
verifying certificates and forms. Every state change calls a service."""

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import access
from accounts.admin_base import Locks, PortalAdmin
from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.documents import DocumentField
from hmis_portal.core.inputs import TextValidationMixin

from . import services
from .models import (AccessCapability, Certificate, CESRole, Completion, Course, FormSignature, FormSubmission,
                     FormTemplate, Registration, RequiredForm, Signer, TrainingSession, validate_signers)


class ReasonActionForm(TextValidationMixin, ActionForm):
    reason = forms.CharField(required=False, label="Reason (when returning)",
                             widget=forms.TextInput(attrs={"size": 50}))


# --- policy --------------------------------------------------------------

@admin.register(Course)
class CourseAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.TRAINING_POLICY

    list_display = ("title", "code", "hours", "delivery", "new_users_only", "sort_order")
    list_editable = ("sort_order",)
    search_fields = ("title", "code")
    filter_horizontal = ("also_satisfies",)


@admin.register(CESRole)
class CESRoleAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.TRAINING_POLICY

    list_display = ("name", "access_rank", "hmis_role", "hmis_group", "any_program_type", "courses", "types")
    search_fields = ("name", "hmis_role")
    filter_horizontal = ("program_types", "required_courses")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("required_courses", "program_types")

    @admin.display(description="trainings")
    def courses(self, obj):
        return "; ".join(c.title for c in obj.required_courses.all())

    @admin.display(description="program types")
    def types(self, obj):
        return "any" if obj.any_program_type else ", ".join(t.name for t in obj.program_types.all())


@admin.register(AccessCapability)
class AccessCapabilityAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.TRAINING_POLICY

    list_display = ("name", "role_names", "sort_order")
    list_editable = ("sort_order",)
    filter_horizontal = ("roles",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="roles")
    def role_names(self, obj):
        return ", ".join(r.name for r in obj.roles.all())


class SignersField(forms.CharField):
    """The form's signers in order, typed as roles separated by commas."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [part.strip() for part in (value or "").split(",") if part.strip()]

    def validate(self, value):
        validate_signers(value)


class RequiredFormAdminForm(forms.ModelForm):
    signers = SignersField(
        required=False, help_text="In order, separated by commas: " + ", ".join(
            f"{value} ({label})" for value, label in Signer.choices) + ". Empty: whoever files the form, alone.")

    class Meta:
        model = RequiredForm
        fields = "__all__"


@admin.register(RequiredForm)
class RequiredFormAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.TRAINING_POLICY

    form = RequiredFormAdminForm
    list_display = ("title", "code", "course", "new_users_only", "filed_by", "signer_list", "signing", "sort_order")
    list_select_related = ("course",)

    @admin.display(description="signers")
    def signer_list(self, obj):
        return " → ".join(Signer(role).label for role in obj.signer_roles)


class FormTemplateAdminForm(forms.ModelForm):
    document = DocumentField(label="Blank form")

    class Meta:
        model = FormTemplate
        fields = ("form", "document", "note", "resign_required")


@admin.register(FormTemplate)
class FormTemplateAdmin(PortalAdmin):
    """A new blank version goes through the service (numbered, hashed,
    audited; earlier signed copies returned when they must be signed again).
    Versions are never edited or deleted: signatures point at them."""
    view_work = access.Work.READ_USER_FORMS
    change_work = access.Work.TRAINING_POLICY

    form = FormTemplateAdminForm
    list_display = ("form", "version", "uploaded_at", "uploaded_by", "resign_required", "document_link")
    list_filter = ("form",)
    list_select_related = ("form", "uploaded_by")
    inlines = [AuditTimelineInline]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("form", "document", "note", "resign_required")
        return ("form", "version", "document_link", "sha256", "note", "resign_required", "uploaded_by",
                "uploaded_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    deletable = False

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.form_template_upload(
            actor=request.user, form_id=form.cleaned_data["form"].pk, document=form.cleaned_data["document"],
            resign_required=form.cleaned_data["resign_required"], note=form.cleaned_data["note"])
        obj.pk, obj.version, obj.document, obj.sha256 = created.pk, created.version, created.document, created.sha256

    def save_related(self, request, form, formsets, change):
        pass  # nothing related but the audit timeline, which is read-only

    @admin.display(description="document")
    def document_link(self, obj):
        if not obj.pk:
            return "—"
        return format_html('<a href="{}">Download</a>', reverse("training:form-template-document", args=[obj.pk]))


# --- sessions and attendance ---------------------------------------------

class SessionCancelForm(TextValidationMixin, forms.Form):
    reason = forms.CharField(label="Reason (registrants will see it)", max_length=500)


class SessionSeatsForm(forms.Form):
    capacity = forms.IntegerField(label="Seats", min_value=1, max_value=10000)


class SessionRescheduleForm(TextValidationMixin, forms.Form):
    starts_at = forms.DateTimeField(label="Starts", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="Ends", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    webinar_url = forms.URLField(label="Webinar link", required=False, assume_scheme="https")
    location = forms.CharField(label="Place", max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The session must end after it starts.")
        return data

class RegistrationInline(Locks, admin.TabularInline):
    model = Registration
    fields = ("user", "status", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    addable = False


@admin.register(TrainingSession)
class TrainingSessionAdmin(PortalAdmin):
    """Seats and cancellation change through the services (registrants told,
    the waitlist promoted, audited): the buttons on the change page."""
    view_work = access.Work.TRAINING_RECORDS
    change_work = access.Work.TRAINING_RECORDS

    change_form_template = "training/admin/session_change_form.html"
    transitions = {"cancel": lambda user, session: not session.cancelled,
                   "seats": lambda user, session: not session.cancelled,
                   "reschedule": lambda user, session: not session.cancelled}
    list_display = ("course", "starts_at", "capacity", "where", "cancelled")
    list_filter = ("course", "cancelled")
    date_hierarchy = "starts_at"
    list_select_related = ("course",)
    fields = ("course", "starts_at", "ends_at", "capacity", "webinar_url", "location", "notes", "cancelled",
              "attendance_link")
    inlines = [RegistrationInline]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("cancelled", "attendance_link")
        # Time and place change through Reschedule, which tells registrants.
        return ("capacity", "starts_at", "ends_at", "webinar_url", "location", "cancelled", "attendance_link")

    deletable = False  # cancel it instead: registrants are told

    def cancel_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "cancel", SessionCancelForm, "Cancel this session",
            lambda session, reason: services.session_cancel(actor=request.user, session_id=session.pk,
                                                            reason=reason),
            "Session cancelled; everyone registered or waitlisted was told.")

    def seats_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "seats", SessionSeatsForm, "Change the number of seats",
            lambda session, capacity: services.session_set_capacity(actor=request.user, session_id=session.pk,
                                                                    capacity=capacity),
            "Seats changed; anyone moved up from the waitlist was told.")

    def reschedule_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "reschedule", SessionRescheduleForm, "Reschedule this session",
            lambda session, **when: services.session_reschedule(actor=request.user, session_id=session.pk, **when),
            "Session rescheduled; everyone registered or waitlisted was sent the new time.",
            initial=lambda session: {"starts_at": timezone.localtime(session.starts_at).strftime("%Y-%m-%dT%H:%M"),
                                     "ends_at": timezone.localtime(session.ends_at).strftime("%Y-%m-%dT%H:%M"),
                                     "webinar_url": session.webinar_url, "location": session.location})

    @admin.display(description="attendance")
    def attendance_link(self, obj):
        if not obj.pk:
            return "—"
        url = reverse("admin:training_registration_changelist") + f"?session__id__exact={obj.pk}"
        return format_html('<a href="{}">Record attendance for this session</a>', url)


@admin.register(Registration)
class RegistrationAdmin(PortalAdmin):
    view_work = access.Work.TRAINING_RECORDS
    change_work = access.Work.TRAINING_RECORDS

    list_display = ("user", "session", "status", "created_at")
    list_filter = ("status", "session__course")
    search_fields = ("user__email", "user__full_name")
    list_select_related = ("user", "session__course")
    readonly_fields = ("session", "user", "status", "created_at", "updated_at")
    actions = ["record_attendance", "record_no_show"]
    inlines = [AuditTimelineInline]

    addable = False

    @admin.action(description="Record attendance (completes the course)", permissions=["change"])
    def record_attendance(self, request, queryset):
        self.run_each(request, queryset,
             lambda r: services.registration_record_attendance(actor=request.user, registration_id=r.pk),
             "Attendance recorded for {n} registration{s}.")

    @admin.action(description="Record no-show (did not attend; the course stays to do)", permissions=["change"])
    def record_no_show(self, request, queryset):
        self.run_each(request, queryset,
             lambda r: services.registration_record_no_show(actor=request.user, registration_id=r.pk),
             "No-show recorded for {n} registration{s}.")


@admin.register(Completion)
class CompletionAdmin(PortalAdmin):
    view_work = access.Work.USER_ACCESS

    list_display = ("user", "course", "completed_on", "source", "recorded_by")
    list_filter = ("course", "source")
    search_fields = ("user__email", "user__full_name")
    list_select_related = ("user", "course", "recorded_by")
    readonly_fields = [f.name for f in Completion._meta.fields]

    addable = False


class ReviewAdmin(PortalAdmin):
    """Certificates and forms are reviewed alike: verified, or returned with
    a reason, each through its service (`verify_one`, `return_one`)."""

    action_form = ReasonActionForm
    list_filter = ("status",)
    search_fields = ("user__email", "user__full_name")
    inlines = [AuditTimelineInline]
    actions = ["verify", "return_with_reason"]
    addable = deletable = False
    noun = ""  # "certificate", "form": for the messages
    # The actions' wording on each list (the reason box serves both).
    verify_description = "Verify"
    return_description = "Return with the reason given"

    def verify_one(self, actor, obj):
        raise NotImplementedError

    def return_one(self, actor, obj, reason: str):
        raise NotImplementedError

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name, description in (("verify", self.verify_description),
                                  ("return_with_reason", self.return_description)):
            if name in actions:
                func, name, _ = actions[name]
                actions[name] = (func, name, description)
        return actions

    @admin.action(description="Verify", permissions=["change"])
    def verify(self, request, queryset):
        self.run_each(request, queryset, lambda obj: self.verify_one(request.user, obj),
                      f"{{n}} {self.noun}{{s}} verified.")

    @admin.action(description="Return with the reason given", permissions=["change"])
    def return_with_reason(self, request, queryset):
        reason = request.POST.get("reason", "")
        self.run_each(request, queryset, lambda obj: self.return_one(request.user, obj, reason),
                      f"{{n}} {self.noun}{{s}} returned.")

    @admin.display(description="document")
    def document_link(self, obj):
        if not obj.pk or not obj.document:
            return "—"
        return format_html('<a href="{}">Download</a>', reverse(self.document_url, args=[obj.pk]))


@admin.register(Certificate)
class CertificateAdmin(ReviewAdmin):
    view_work = access.Work.READ_USER_FORMS
    change_work = access.Work.TRAINING_RECORDS

    list_display = ("user", "course", "completed_on", "status", "submitted_at", "document_link")
    list_filter = ("status", "course")
    list_select_related = ("user", "course")
    fields = ("user", "course", "completed_on", "document_link", "status", "reason", "submitted_at",
              "reviewed_by", "reviewed_at")
    readonly_fields = fields
    document_url = "training:certificate-document"
    noun = "certificate"
    verify_description = "Verify (the course counts as complete)"
    return_description = "Return with the reason given (e.g. wrong course)"

    def verify_one(self, actor, certificate):
        return services.certificate_verify(actor=actor, certificate_id=certificate.pk)

    def return_one(self, actor, certificate, reason):
        return services.certificate_return(actor=actor, certificate_id=certificate.pk, reason=reason)


class FormSignatureInline(Locks, admin.TabularInline):
    """Who signed, in order, with what they typed and attested and the SHA-256 of what they signed."""

    model = FormSignature
    fields = ("position", "role", "signer", "method", "typed_name", "attestation", "sha256", "signed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    addable = changeable = False


@admin.register(FormSubmission)
class FormSubmissionAdmin(ReviewAdmin):
    view_work = access.Work.READ_USER_FORMS
    change_work = access.Work.TRAINING_RECORDS

    inlines = [FormSignatureInline, AuditTimelineInline]
    list_display = ("user", "form", "version", "status", "submitted_at", "document_link")
    list_filter = ("status", "form")
    list_select_related = ("user", "form")
    fields = ("user", "form", "version", "document_link", "status", "reason", "submitted_at", "reviewed_by",
              "reviewed_at")
    readonly_fields = fields
    document_url = "training:form-document"
    noun = "form"

    def verify_one(self, actor, submission):
        return services.form_verify(actor=actor, submission_id=submission.pk)

    def return_one(self, actor, submission, reason):
        return services.form_return(actor=actor, submission_id=submission.pk, reason=reason)
