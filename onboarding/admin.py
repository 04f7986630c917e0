"""CoC staff work steps 1 and 2 in the admin (SPEC §2): countersign or return
agreements, and work the program setup queue. Every button and action calls
the same service as anything else; the service locks the row and checks the
status, so a double-click or two staff at once change it once."""

from django.contrib import admin, messages
from django.template.defaultfilters import pluralize
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.calendar import BusinessCalendar, local_date

from . import services
from .forms import CompleteForm, QuestionForm, ReturnForm
from .models import (AgreementCopy, CESOrganizationRole, OnboardingPolicy, OrganizationAgreement,
                     OrganizationCESRole, Program, ProgramType)


def _age(obj):
    return BusinessCalendar.load().business_days_between(local_date(obj.status_changed_at), local_date())


class AgreementCopyInline(admin.TabularInline):
    model = AgreementCopy
    fields = ("version", "signer_name", "signer_title", "signed_on", "uploaded_by", "uploaded_at", "download")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-version",)

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="file")
    def download(self, copy):
        url = reverse("onboarding:agreement-copy", args=[copy.agreement_id, copy.version])
        return format_html('<a href="{}">Download copy {}</a>', url, copy.version)


class WorkflowAdmin(admin.ModelAdmin):
    """Buttons on the change page that post to small views calling a service."""

    transitions: dict = {}  # url suffix -> (method name, label)

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        extra = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(getattr(self, f"{name}_view")),
                 name=f"{info[0]}_{info[1]}_{name}")
            for name in self.transitions
        ]
        return extra + super().get_urls()

    def _done(self, request, obj):
        info = self.model._meta.app_label, self.model._meta.model_name
        return HttpResponseRedirect(reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk]))

    def _run(self, request, obj, call, success):
        try:
            call()
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)
        return self._done(request, obj)

    def _form_view(self, request, object_id, form_class, title, call, success, perm):
        obj = get_object_or_404(self.model, pk=object_id)
        if not request.user.has_perm(perm):
            raise PermissionDenied
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            return self._run(request, obj, lambda: call(obj, **form.cleaned_data), success)
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "object": obj,
                   "opts": self.model._meta, "original": obj}
        return TemplateResponse(request, "onboarding/admin/transition_form.html", context)

    def _post_view(self, request, object_id, call, success, perm):
        obj = get_object_or_404(self.model, pk=object_id)
        if not request.user.has_perm(perm):
            raise PermissionDenied
        if request.method != "POST":
            return self._done(request, obj)
        return self._run(request, obj, lambda: call(obj), success)

    def _bulk(self, request, queryset, call, verb):
        done, problems = 0, []
        for obj in queryset.order_by("pk"):
            try:
                call(obj)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                problems.append(f"{obj}: {' '.join(getattr(exc, 'messages', [str(exc)]))}")
        if done:
            self.message_user(request, f"{done} {verb.format(s=pluralize(done))}.", messages.SUCCESS)
        for problem in problems:
            self.message_user(request, problem, messages.WARNING)


@admin.register(OrganizationAgreement)
class OrganizationAgreementAdmin(WorkflowAdmin):
    change_form_template = "onboarding/admin/agreement_change_form.html"
    transitions = {"countersign": "Countersign", "return": "Return"}
    list_display = ("__str__", "organization", "status", "signer_name", "submitted_at", "age_business_days",
                    "countersigned_by", "expires_on")
    list_filter = ("status",)
    search_fields = ("organization__name", "signer_name")
    list_select_related = ("organization", "countersigned_by")
    ordering = ("status", "status_changed_at")
    inlines = [AgreementCopyInline, AuditTimelineInline]
    readonly_fields = [f.name for f in OrganizationAgreement._meta.fields]
    actions = ["countersign_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="waiting (business days)")
    def age_business_days(self, obj):
        return _age(obj) if obj.status == OrganizationAgreement.Status.SUBMITTED else "—"

    def countersign_view(self, request, object_id):
        return self._post_view(
            request, object_id, lambda a: services.agreement_countersign(actor=request.user, agreement=a),
            "Agreement countersigned: it is executed and the agency was told.",
            "onboarding.countersign_organizationagreement")

    def return_view(self, request, object_id):
        return self._form_view(
            request, object_id, ReturnForm, "Return the agreement to the agency",
            lambda a, reason: services.agreement_return(actor=request.user, agreement=a, reason=reason),
            "Agreement returned; the agency was told what to correct.",
            "onboarding.countersign_organizationagreement")

    @admin.action(description="Countersign the selected submitted agreements",
                  permissions=["countersign"])
    def countersign_selected(self, request, queryset):
        self._bulk(request, queryset,
                   lambda a: services.agreement_countersign(actor=request.user, agreement=a),
                   "agreement{s} countersigned")

    def has_countersign_permission(self, request):
        return request.user.has_perm("onboarding.countersign_organizationagreement")


@admin.register(Program)
class ProgramAdmin(WorkflowAdmin):
    """The implementation team's queue: filter by setup status; oldest first."""

    change_form_template = "onboarding/admin/program_change_form.html"
    transitions = {"start": "Start", "ask": "Ask", "complete": "Complete"}
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

    def get_readonly_fields(self, request, obj=None):
        # Status moves only through the buttons; only the HMIS program ID is typed in.
        return [f for f in self.fields if f != "hmis_program_id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="waiting (business days)")
    def age_business_days(self, obj):
        return _age(obj) if obj.setup_status in Program.COC_STATUSES + Program.AGENCY_STATUSES else "—"

    def start_view(self, request, object_id):
        return self._post_view(request, object_id,
                               lambda p: services.program_setup_start(actor=request.user, program=p),
                               "Setup marked in progress.", "onboarding.work_program_setup")

    def ask_view(self, request, object_id):
        return self._form_view(
            request, object_id, QuestionForm, "Ask the Program Manager for information",
            lambda p, question: services.program_setup_ask(actor=request.user, program=p, question=question),
            "Question sent to the Program Manager.", "onboarding.work_program_setup")

    def complete_view(self, request, object_id):
        return self._form_view(
            request, object_id, CompleteForm, "Mark program setup complete",
            lambda p, hmis_program_id: services.program_setup_complete(
                actor=request.user, program=p, hmis_program_id=hmis_program_id),
            "Setup complete; the Program Manager was asked to confirm it.", "onboarding.work_program_setup")

    @admin.action(description="Mark the selected requests in progress", permissions=["work_setup"])
    def start_selected(self, request, queryset):
        self._bulk(request, queryset, lambda p: services.program_setup_start(actor=request.user, program=p),
                   "setup request{s} marked in progress")

    def has_work_setup_permission(self, request):
        return request.user.has_perm("onboarding.work_program_setup")


@admin.register(ProgramType)
class ProgramTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "needs_setup_modification", "sort_order")
    list_editable = ("sort_order",)
    prepopulated_fields = {"code": ("name",)}


@admin.register(CESOrganizationRole)
class CESOrganizationRoleAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "active", "sort_order")
    prepopulated_fields = {"code": ("name",)}


@admin.register(OrganizationCESRole)
class OrganizationCESRoleAdmin(admin.ModelAdmin):
    list_display = ("organization", "role", "named_by", "named_at")
    list_filter = ("role",)
    search_fields = ("organization__name",)
    list_select_related = ("organization", "role", "named_by")
    autocomplete_fields = ()
    readonly_fields = ("named_by", "named_at")


@admin.register(OnboardingPolicy)
class OnboardingPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "agreement_term_months", "renewal_reminder_days", "status_list_public")

    def has_add_permission(self, request):
        return not OnboardingPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
