import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat, pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts import access
from accounts.admin_base import PolicyAdmin, PortalAdmin
from accounts.models import Persona
from hmis_portal.core.inputs import TextValidationMixin
from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.errors import REFUSALS, refusal_messages

from .activity import (hmis_account_reactivate, hmis_account_record_retraining, reactivation_request_decline,
                       record_hmis_logins)
from .checklist import build_checklist
from .logins import read_login_report
from .models import AccessPolicy, AccessRequest, HMISAccount, ReactivationRequest
from .services import access_request_approve, access_request_decline, access_request_grant, granted_roles


class AccessPolicyForm(forms.ModelForm):
    """Who may request access as ticked personas (stored as their codes)."""

    access_requesters = forms.MultipleChoiceField(
        label="Who may request access", choices=Persona.choices, widget=forms.CheckboxSelectMultiple,
        help_text="The agency personas who ask for a person's HMIS access.")

    class Meta:
        model = AccessPolicy
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["access_requesters"] = self.instance.requester_personas

    def clean_access_requesters(self):
        return ",".join(self.cleaned_data["access_requesters"])


@admin.register(AccessPolicy)
class AccessPolicyAdmin(PolicyAdmin):
    view_work = access.Work.PROVISION
    change_work = access.Work.ACCESS_POLICY

    form = AccessPolicyForm


class LoginReportForm(forms.Form):
    report = forms.FileField(label="HMIS login report (CSV)",
                             help_text="Columns: HMIS username, last login time. Times without a zone are the CoC's.")
    apply_good_rows = forms.BooleanField(
        required=False, label="If some rows are bad, apply the good rows anyway",
        help_text="Otherwise nothing is applied while any row is bad.")


@admin.register(HMISAccount)
class HMISAccountAdmin(PortalAdmin):
    """Read-only: accounts are created by granting access, and their status
    and clocks change through the services (sweeps, login import,
    reactivation, retraining), each audited. Provisioning staff act through
    the login import and the actions below."""
    view_work = access.Work.HMIS_ACCOUNTS
    change_work = access.Work.PROVISION

    change_list_template = "hmis_access/admin/hmisaccount_change_list.html"
    list_display = ("hmis_username", "user", "organization", "hmis_role", "status", "retraining_required",
                    "last_hmis_login_at", "inactivity_counted_from", "must_log_in_by")
    list_filter = ("status", "retraining_required", "login_reminders", "hmis_role", "organization")
    search_fields = ("hmis_username", "user__email", "user__full_name", "organization__name")
    list_select_related = ("user", "organization")
    fields = ("user", "organization", "hmis_username", "hmis_role", "status", "provisioned_at",
              "last_hmis_login_at", "inactivity_counted_from", "retraining_counted_from", "must_log_in_by",
              "reactivated_at", "inactive_since", "inactive_reason", "retraining_required", "retraining_required_on")
    readonly_fields = fields
    inlines = [AuditTimelineInline]
    actions = ["record_retraining"]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The change page is view-only; "change" means the import and the actions.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Record the retraining as completed", permissions=["retraining"])
    def record_retraining(self, request, queryset):
        self.run_each(request, queryset.filter(retraining_required=True),
                      lambda account: hmis_account_record_retraining(actor=request.user, account=account),
                      "Retraining recorded for {n} account{s}.")

    def has_retraining_permission(self, request):
        return access.can_record_retraining(request.user)

    def get_urls(self):
        return [
            path("import-logins/", self.admin_site.admin_view(self.import_logins_view),
                 name="hmis_access_hmisaccount_import_logins"),
            *super().get_urls(),
        ]

    def import_logins_view(self, request):
        """Upload the HMIS login report: check the whole file, list bad rows by
        line, and apply nothing unless every row is good or the person chose to
        apply the good ones."""


        if not access.can_provision(request.user):
            raise PermissionDenied
        report = None
        form = LoginReportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["report"]
            try:
                if getattr(upload, "over_limit", False) or upload.size > settings.LOGIN_REPORT_MAX_BYTES:
                    raise ValidationError(
                        f"The file is {filesizeformat(upload.size)}; the limit is "
                        f"{filesizeformat(settings.LOGIN_REPORT_MAX_BYTES)}. Upload the login report only (CSV).")
                upload.seek(0)
                # Read as it streams from the uploaded file, never all at once.
                report = read_login_report(io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline=""))
            except UnicodeDecodeError:
                report = None
                form.add_error("report", "This is not a UTF-8 text (CSV) file. Export the report as CSV.")
            except ValidationError as exc:
                report = None
                form.add_error("report", exc)
            else:
                if report.bad_rows and not form.cleaned_data["apply_good_rows"]:
                    messages.error(request, f"{len(report.bad_rows)} bad row{pluralize(len(report.bad_rows))} of {report.rows}: nothing was "
                                            "applied. Fix the file, or tick “apply the good rows anyway”.")
                else:
                    result = record_hmis_logins(report.logins, actor=request.user, report=report.counts())
                    skipped = f"; {len(report.bad_rows)} bad row{pluralize(len(report.bad_rows))} skipped" if report.bad_rows else ""
                    messages.success(request, f"{report.rows} row{pluralize(report.rows)} read: {result.summary()}{skipped}.")
                    if not report.bad_rows:
                        return redirect("admin:hmis_access_hmisaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload the HMIS login report",
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "hmis_access/admin/import_logins.html", context)


@admin.register(ReactivationRequest)
class ReactivationRequestAdmin(PortalAdmin):
    """Reactivations reach provisioning staff through the provisioning queue,
    whose links open this page; the buttons call the same services as the
    portal's HMIS accounts page."""
    view_work = access.Work.HMIS_ACCOUNTS
    change_work = access.Work.PROVISION

    change_form_template = "hmis_access/admin/reactivationrequest_change_form.html"
    list_display = ("account", "organization", "status", "requested_by", "requested_at", "provisioning_due_at",
                    "provisioned_by")
    list_filter = ("status",)
    search_fields = ("account__hmis_username", "user__email", "user__full_name", "organization__name")
    list_select_related = ("account", "organization", "requested_by", "provisioned_by")
    readonly_fields = [f.name for f in ReactivationRequest._meta.fields]
    actions = ["reactivate"]
    inlines = [AuditTimelineInline]

    def has_add_permission(self, request, *args):
        return False  # asked for in the portal by the agency or the user

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "policy": AccessPolicy.current()}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path("<int:pk>/process/", self.admin_site.admin_view(self.process_view),
                 name="hmis_access_reactivationrequest_process"),
            *super().get_urls(),
        ]

    def process_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not access.can_provision(request.user):
            raise PermissionDenied
        reactivation = get_object_or_404(ReactivationRequest, pk=pk)
        try:
            if request.POST.get("decision") == "decline":
                reactivation_request_decline(actor=request.user, reactivation_request=reactivation,
                                             reason=request.POST.get("reason", ""))
                self.message_user(request, "Declined; the agency and the user have been told.", messages.SUCCESS)
            else:
                hmis_account_reactivate(actor=request.user, reactivation_request=reactivation)
                self.message_user(request, f"{reactivation.account} is Active again; the user was told when to log "
                                           "in by.", messages.SUCCESS)
        except REFUSALS as exc:
            self.message_user(request, " ".join(refusal_messages(exc)), messages.ERROR)
        return redirect("admin:hmis_access_reactivationrequest_change", pk)

    @admin.action(description="Reactivate the selected accounts", permissions=["change"])
    def reactivate(self, request, queryset):
        self.run_each(request, queryset,
                      lambda reactivation: hmis_account_reactivate(actor=request.user, reactivation_request=reactivation),
                      "{n} account{s} reactivated; each user was told to log in.")


# --- access requests: the provisioning staff's side ------------------------

class GrantForm(forms.Form):
    hmis_username = forms.CharField(label="HMIS username", max_length=150)
    hmis_role = forms.ChoiceField(label="HMIS role", choices=(),
                                  help_text="The highest-ranked of the user's CES roles, unless you have a reason.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The CoC's roles (policy rows), so no made-up role can be granted.
        self.fields["hmis_role"].choices = [(role, role) for role in granted_roles()]


class ApproveForm(forms.Form):
    """Nothing to ask: the page confirms the approval."""


class DeclineForm(TextValidationMixin, forms.Form):
    reason = forms.CharField(label="Why the request is declined", max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 4}), help_text="The agency is told.")


@admin.register(AccessRequest)
class AccessRequestAdmin(PortalAdmin):
    view_work = access.Work.USER_ACCESS
    change_work = access.Work.PROVISION

    change_form_template = "hmis_access/admin/accessrequest_change_form.html"
    # Separation of duties: not a request one made, nor of one's own agency, nor one's own.
    transitions = {"approve": access.can_approve_access, "decline": access.can_approve_access}
    list_display = ("user", "organization", "status", "provisioning_due_at", "ready_at", "provisioned_at")
    list_filter = ("status", "organization")
    search_fields = ("user__email", "user__full_name", "organization__name", "hmis_username")
    list_select_related = ("user", "organization")
    ordering = ("provisioning_due_at", "-created_at")
    fields = ("user", "organization", "new_hmis_user", "status", "checklist", "grant", "ready_at",
              "provisioning_due_at", "provisioned_at", "provisioned_by", "hmis_username", "hmis_role",
              "requested_by", "created_at", "decided_by", "decided_at", "decline_reason")
    readonly_fields = fields
    inlines = [AuditTimelineInline]
    actions = ["approve_selected"]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve the selected requests awaiting CoC approval", permissions=["approve"])
    def approve_selected(self, request, queryset):
        self.run_each(request, queryset,
                      lambda r: access_request_approve(actor=request.user, access_request_id=r.pk),
                      "{n} request{s} approved; each user was told what comes next.")

    def has_approve_permission(self, request):
        return access.can_work_access_approvals(request.user)

    @admin.display(description="checklist")
    def checklist(self, obj):
        result = build_checklist(obj)
        rows = format_html_join(
            "", "<li>{} {} — {}</li>",
            (("✔" if item.done else "✘", item.label, item.status) for item in result.items),
        )
        return format_html("<ul>{}</ul><p>HMIS role to provision: <strong>{}</strong></p>", rows,
                           result.hmis_role or "—")

    def get_readonly_fields(self, request, obj=None):
        self._viewer = request.user  # the grant button below shows only to whom may grant
        return super().get_readonly_fields(request, obj)

    @admin.display(description="grant access")
    def grant(self, obj):
        if obj.status != AccessRequest.Status.READY:
            return "Only a request that is ready for provisioning can be granted."
        refusal = access.grant_refusal(self._viewer, obj)
        if refusal:
            return refusal
        return format_html('<a class="button" href="{}">Grant HMIS access</a>',
                           reverse("admin:hmis_access_accessrequest_grant", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        awaiting = obj is not None and obj.status == AccessRequest.Status.AWAITING_APPROVAL
        extra_context = {**(extra_context or {}), "awaiting_approval": awaiting,
                         "approval_refusal": access.approval_refusal(request.user, obj) if awaiting else ""}
        return super().change_view(request, object_id, form_url, extra_context)

    def approve_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "approve", ApproveForm, "Approve the access request",
            lambda r: access_request_approve(actor=request.user, access_request_id=r.pk),
            "Approved: the user was told which trainings and forms come next, and the requester was told.")

    def decline_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "decline", DeclineForm, "Decline the access request",
            lambda r, reason: access_request_decline(actor=request.user, access_request_id=r.pk, reason=reason),
            "Declined; the agency was told why.")

    def get_urls(self):
        return [
            path("<int:pk>/grant/", self.admin_site.admin_view(self.grant_view), name="hmis_access_accessrequest_grant"),
            *super().get_urls(),
        ]

    def grant_view(self, request, pk):
        access_request = get_object_or_404(AccessRequest.objects.select_related("user", "organization"), pk=pk)
        if not access.can_grant(request.user, access_request):
            raise PermissionDenied(access.grant_refusal(request.user, access_request))
        checklist = build_checklist(access_request)
        change_url = reverse("admin:hmis_access_accessrequest_change", args=[pk])
        if request.method == "POST":
            form = GrantForm(request.POST)
            if form.is_valid():
                try:
                    access_request_grant(actor=request.user, access_request_id=pk, **form.cleaned_data)
                except REFUSALS as exc:
                    self.message_user(request, " ".join(refusal_messages(exc)), messages.ERROR)
                else:
                    self.message_user(request, f"HMIS access granted to {access_request.user}; the user and the "
                                               "agency have been told.", messages.SUCCESS)
                    return redirect(change_url)
        else:
            username = access_request.user.email.split("@")[0]
            form = GrantForm(initial={"hmis_username": username, "hmis_role": checklist.hmis_role})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Grant HMIS access to {access_request.user}",
            "opts": self.model._meta,
            "original": access_request,
            "access_request": access_request,
            "checklist": checklist,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "hmis_access/admin/grant_access.html", context)
