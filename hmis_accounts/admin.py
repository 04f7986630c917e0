"""The admin of HMIS accounts after the grant: the accounts themselves (read
only; the login import and the retraining action), and reactivation requests,
which provisioning staff open from the provisioning queue."""

import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat, pluralize
from django.template.response import TemplateResponse
from django.urls import path

from accounts import access
from accounts.admin_base import PortalAdmin
from hmis_access.models import AccessPolicy, HMISAccount
from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.errors import REFUSALS, refusal_messages

from .models import ReactivationRequest
from .services import (hmis_account_reactivate, hmis_account_record_retraining, hmis_logins_import,
                       reactivation_request_decline)


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
    addable = deletable = False

    change_list_template = "hmis_accounts/admin/hmisaccount_change_list.html"
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
        """Upload the HMIS login report: check the whole file (read once, as
        it streams: `services.hmis_logins_import`), list bad rows by line, and
        apply nothing unless every row is good or the person chose to apply
        the good ones."""


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
                # Read once, as it streams from the uploaded file, never all at once.
                outcome = hmis_logins_import(
                    actor=request.user, lines=io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline=""),
                    apply_good_rows=form.cleaned_data["apply_good_rows"])
            except UnicodeDecodeError:
                report = None
                form.add_error("report", "This is not a UTF-8 text (CSV) file. Export the report as CSV.")
            except ValidationError as exc:
                report = None
                form.add_error("report", exc)
            else:
                report, result = outcome.report, outcome.result
                if result is None:
                    messages.error(request, f"{len(report.bad_rows)} bad row{pluralize(len(report.bad_rows))} of {report.rows}: nothing was "
                                            "applied. Fix the file, or tick “apply the good rows anyway”.")
                else:
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
        return TemplateResponse(request, "hmis_accounts/admin/import_logins.html", context)


@admin.register(ReactivationRequest)
class ReactivationRequestAdmin(PortalAdmin):
    """Reactivations reach provisioning staff through the provisioning queue,
    whose links open this page; the buttons call the same services as the
    portal's HMIS accounts page."""
    view_work = access.Work.HMIS_ACCOUNTS
    change_work = access.Work.PROVISION
    addable = False  # asked for in the portal by the agency or the user
    deletable = False

    change_form_template = "hmis_accounts/admin/reactivationrequest_change_form.html"
    list_display = ("account", "organization", "status", "requested_by", "requested_at", "provisioning_due_at",
                    "provisioned_by")
    list_filter = ("status",)
    search_fields = ("account__hmis_username", "user__email", "user__full_name", "organization__name")
    list_select_related = ("account", "organization", "requested_by", "provisioned_by")
    readonly_fields = [f.name for f in ReactivationRequest._meta.fields]
    actions = ["reactivate"]
    inlines = [AuditTimelineInline]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "policy": AccessPolicy.current()}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path("<int:pk>/process/", self.admin_site.admin_view(self.process_view),
                 name="hmis_accounts_reactivationrequest_process"),
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
        return redirect("admin:hmis_accounts_reactivationrequest_change", pk)

    @admin.action(description="Reactivate the selected accounts", permissions=["change"])
    def reactivate(self, request, queryset):
        self.run_each(request, queryset,
                      lambda reactivation: hmis_account_reactivate(actor=request.user, reactivation_request=reactivation),
                      "{n} account{s} reactivated; each user was told to log in.")
