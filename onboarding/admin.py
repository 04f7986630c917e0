"""CoC staff work steps 1 and 2 in the admin (SPEC §2): countersign or return
agreements, and work the program setup queue. Every button and action calls
the same service as anything else; the service locks the row and checks the
status, so a double-click or two staff at once change it once."""

import contextvars

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts import access
from accounts.admin_base import Locks, PolicyAdmin, PortalAdmin
from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.calendar import BusinessCalendar, local_date
from hmis_portal.core.documents import DocumentField

from . import services
from .forms import CompleteForm, JoinAcceptForm, JoinDeclineForm, QuestionForm, ReturnForm
from .models import (AgreementCopy, AgreementTemplate, CESOrganizationRole, JoinRequest, OnboardingPolicy, OrganizationAgreement,
                     OrganizationCESRole, Program, ProgramType)


# The calendar of the changelist being drawn: loaded at most once per page,
# not once per row (its holidays are one query).
_page_calendar: contextvars.ContextVar[list | None] = contextvars.ContextVar("page_calendar", default=None)


def _calendar() -> BusinessCalendar:
    held = _page_calendar.get()
    if held is None:
        return BusinessCalendar.load()
    if not held:
        held.append(BusinessCalendar.load())
    return held[0]


def _age(obj):
    return _calendar().business_days_between(local_date(obj.status_changed_at), local_date())


class OneCalendarPerPage:
    """For admins whose list shows business days: the page is drawn (its rows'
    values computed) with one business calendar, read on first use."""

    def changelist_view(self, request, extra_context=None):
        token = _page_calendar.set([])
        try:
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
            return response
        finally:
            _page_calendar.reset(token)


class AgreementCopyInline(Locks, admin.TabularInline):
    model = AgreementCopy
    fields = ("version", "signer_name", "signer_title", "signed_on", "uploaded_by", "uploaded_at", "download")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-version",)

    addable = False

    @admin.display(description="file")
    def download(self, copy):
        url = reverse("onboarding:agreement-copy", args=[copy.agreement_id, copy.version])
        return format_html('<a href="{}">Download copy {}</a>', url, copy.version)


@admin.register(OrganizationAgreement)
class OrganizationAgreementAdmin(OneCalendarPerPage, PortalAdmin):
    view_work = access.Work.COUNTERSIGN
    change_work = access.Work.COUNTERSIGN

    change_form_template = "onboarding/admin/agreement_change_form.html"
    # Separation of duties: not for an agreement one submitted, or of one's own agency.
    transitions = {"countersign": access.can_countersign, "return": access.can_countersign}
    list_display = ("__str__", "organization", "status", "signer_name", "submitted_at", "age_business_days",
                    "countersigned_by", "expires_on")
    list_filter = ("status",)
    search_fields = ("organization__name", "signer_name")
    list_select_related = ("organization", "countersigned_by")
    ordering = ("status", "status_changed_at")
    inlines = [AgreementCopyInline, AuditTimelineInline]
    readonly_fields = [f.name for f in OrganizationAgreement._meta.fields]
    actions = ["countersign_selected"]

    addable = deletable = False

    @admin.display(description="waiting (business days)")
    def age_business_days(self, obj):
        return _age(obj) if obj.status == OrganizationAgreement.Status.SUBMITTED else "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        refusal = access.countersign_refusal(request.user, obj) if obj else ""
        extra_context = {**(extra_context or {}), "countersign_refusal": refusal}
        return super().change_view(request, object_id, form_url, extra_context)

    def countersign_view(self, request, object_id):
        return self.post_transition(
            request, object_id, "countersign",
            lambda a: services.agreement_countersign(actor=request.user, agreement=a),
            "Agreement countersigned: it is executed and the agency was told.")

    def return_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "return", ReturnForm, "Return the agreement to the agency",
            lambda a, reason: services.agreement_return(actor=request.user, agreement=a, reason=reason),
            "Agreement returned; the agency was told what to correct.")

    @admin.action(description="Countersign the selected submitted agreements", permissions=["countersign"])
    def countersign_selected(self, request, queryset):
        self.run_each(request, queryset, lambda a: services.agreement_countersign(actor=request.user, agreement=a),
                      "{n} agreement{s} countersigned.")

    def has_countersign_permission(self, request):
        return access.does(request.user, access.Work.COUNTERSIGN)


@admin.register(Program)
class ProgramAdmin(OneCalendarPerPage, PortalAdmin):
    """The implementation team's queue: filter by setup status; oldest first."""
    view_work = access.Work.PROGRAM_SETUP
    change_work = access.Work.PROGRAM_SETUP

    change_form_template = "onboarding/admin/program_change_form.html"
    transitions = {name: lambda user, program: access.can_work_program_setup(user)
                   for name in ("start", "ask", "complete")}
    list_display = ("name", "organization", "program_type", "request_kind", "setup_status", "age_business_days",
                    "requested_by")
    list_filter = ("setup_status", "program_type", "request_kind")
    search_fields = ("name", "organization__name", "hmis_program_id")
    list_select_related = ("organization", "program_type", "requested_by")
    ordering = ("setup_status", "status_changed_at")
    inlines = [AuditTimelineInline]
    fields = ("organization", "name", "program_type", "request_kind", "existing_hmis_program", "details",
              "setup_status", "status_changed_at", "question", "answer", "hmis_program_id", "requested_by",
              "setup_completed_by", "setup_completed_at", "confirmed_by", "confirmed_at")
    actions = ["start_selected"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_work_setup": access.can_work_program_setup(request.user)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        # Status moves only through the buttons; only the HMIS program ID is typed in.
        return [f for f in self.fields if f != "hmis_program_id"]

    addable = deletable = False

    @admin.display(description="waiting (business days)")
    def age_business_days(self, obj):
        return _age(obj) if obj.setup_status in Program.COC_STATUSES + Program.AGENCY_STATUSES else "—"

    def start_view(self, request, object_id):
        return self.post_transition(request, object_id, "start",
                                    lambda p: services.program_setup_start(actor=request.user, program=p),
                                    "Setup marked in progress.")

    def ask_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "ask", QuestionForm, "Ask the Program Manager for information",
            lambda p, question: services.program_setup_ask(actor=request.user, program=p, question=question),
            "Question sent to the Program Manager.")

    def complete_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "complete", CompleteForm, "Mark program setup complete",
            lambda p, hmis_program_id: services.program_setup_complete(
                actor=request.user, program=p, hmis_program_id=hmis_program_id),
            "Setup complete; the Program Manager was asked to confirm it.")

    @admin.action(description="Mark the selected requests in progress", permissions=["work_setup"])
    def start_selected(self, request, queryset):
        self.run_each(request, queryset, lambda p: services.program_setup_start(actor=request.user, program=p),
                      "{n} setup request{s} marked in progress.")

    def has_work_setup_permission(self, request):
        return access.can_work_program_setup(request.user)


@admin.register(ProgramType)
class ProgramTypeAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.ONBOARDING_POLICY

    list_display = ("name", "code", "hud_project_type", "hud_referral_event", "needs_setup_modification", "sort_order")
    list_editable = ("sort_order",)
    prepopulated_fields = {"code": ("name",)}


@admin.register(CESOrganizationRole)
class CESOrganizationRoleAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.ONBOARDING_POLICY

    list_display = ("name", "code", "active", "sort_order")
    prepopulated_fields = {"code": ("name",)}


@admin.register(OrganizationCESRole)
class OrganizationCESRoleAdmin(PortalAdmin):
    """Read-only: the Program Manager names the roles in the portal
    (`services.ces_roles_set`, audited, and re-evaluating step 3)."""
    view_work = access.Work.PROGRAM_SETUP
    change_work = access.Work.PROGRAM_SETUP

    list_display = ("organization", "role", "named_by", "named_at")
    list_filter = ("role",)
    search_fields = ("organization__name",)
    list_select_related = ("organization", "role", "named_by")
    readonly_fields = ("organization", "role", "named_by", "named_at")

    addable = changeable = deletable = False


@admin.register(OnboardingPolicy)
class OnboardingPolicyAdmin(PolicyAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.ONBOARDING_POLICY

    list_display = ("__str__", "agreement_term_months", "renewal_reminder_days", "status_list_public")


@admin.register(JoinRequest)
class JoinRequestAdmin(PortalAdmin):
    """Organizations asking to join: accept (creates the agency, invites its
    leads) or decline with a reason, through the same services as the portal."""
    view_work = access.Work.MANAGE_AGENCIES
    change_work = access.Work.MANAGE_AGENCIES

    change_form_template = "onboarding/admin/joinrequest_change_form.html"
    transitions = {"accept": lambda user, j: access.can_accept_join_requests(user),
                   "decline": lambda user, j: access.can_accept_join_requests(user)}
    list_display = ("organization_name", "contact_name", "contact_email", "status", "created_at", "organization")
    list_filter = ("status",)
    search_fields = ("organization_name", "contact_name", "contact_email")
    list_select_related = ("organization",)
    readonly_fields = [f.name for f in JoinRequest._meta.fields] + ["ces_roles"]
    inlines = [AuditTimelineInline]

    addable = deletable = False

    def accept_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "accept", JoinAcceptForm, "Accept: create the agency and invite its leads",
            lambda j, **data: services.join_request_accept(actor=request.user, join_request=j, **data),
            "The agency was created; its Executive Director and Program Manager were invited by email.")

    def decline_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "decline", JoinDeclineForm, "Decline the request to join",
            lambda j, reason: services.join_request_decline(actor=request.user, join_request=j, reason=reason),
            "The request was declined and the contact told why.")


class AgreementTemplateAdminForm(forms.ModelForm):
    document = DocumentField(label="Blank agreement")

    class Meta:
        model = AgreementTemplate
        fields = ("document", "note", "resign_required")


@admin.register(AgreementTemplate)
class AgreementTemplateAdmin(PortalAdmin):
    """A new blank version goes through the service (numbered, hashed,
    audited; agreements awaiting countersignature returned when they must be
    signed again). Versions are never edited or deleted."""
    view_work = access.Work.COUNTERSIGN
    change_work = access.Work.ONBOARDING_POLICY

    form = AgreementTemplateAdminForm
    list_display = ("version", "uploaded_at", "uploaded_by", "resign_required", "note")
    list_select_related = ("uploaded_by",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("document", "note", "resign_required")
        return ("version", "sha256", "note", "resign_required", "uploaded_by", "uploaded_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    deletable = False

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.agreement_template_upload(
            actor=request.user, document=form.cleaned_data["document"],
            resign_required=form.cleaned_data["resign_required"], note=form.cleaned_data["note"])
        obj.pk, obj.version, obj.document, obj.sha256 = created.pk, created.version, created.document, created.sha256

    def save_related(self, request, form, formsets, change):
        pass
