from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from guardian.admin import GuardedModelAdmin

from hmis_portal.core.admin import AuditTimelineInline

from .models import AccessPolicy, HMISAccount, Membership, Organization, ReactivationRequest, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("full_name", "email")
    list_display = ("email", "full_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active", "groups", "memberships__persona")
    search_fields = ("email", "full_name", "memberships__organization__name")
    fieldsets = (
        (None, {"fields": ("email", "full_name", "password")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),)
    inlines = [MembershipInline]


@admin.register(Organization)
class OrganizationAdmin(GuardedModelAdmin):
    # GuardedModelAdmin: object permissions let a regional lead see chosen agencies.
    list_display = ("name", "created_at")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline, AuditTimelineInline]


@admin.register(AccessPolicy)
class AccessPolicyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return not AccessPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class LoginReportForm(forms.Form):
    report = forms.FileField(label="HMIS login report (CSV)",
                             help_text="Columns: HMIS username, last login time. Times without a zone are the CoC's.")
    apply_good_rows = forms.BooleanField(
        required=False, label="If some rows are bad, apply the good rows anyway",
        help_text="Otherwise nothing is applied while any row is bad.")


@admin.register(HMISAccount)
class HMISAccountAdmin(admin.ModelAdmin):
    change_list_template = "accounts/admin/hmisaccount_change_list.html"
    list_display = ("hmis_username", "user", "organization", "hmis_role", "status", "retraining_required",
                    "last_hmis_login_at", "inactivity_counted_from", "must_log_in_by")
    list_filter = ("status", "retraining_required", "login_reminders", "hmis_role", "organization")
    search_fields = ("hmis_username", "user__email", "user__full_name", "organization__name")
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")
    # Status and the clocks change only through the services (sweeps, login
    # import, reactivation), each audited; the admin shows them.
    readonly_fields = ("status", "last_hmis_login_at", "inactivity_counted_from", "retraining_counted_from",
                       "must_log_in_by", "reactivated_at", "inactive_since", "inactive_reason",
                       "retraining_required", "retraining_required_on")
    exclude = ("login_reminders",)
    inlines = [AuditTimelineInline]

    def get_urls(self):
        from django.urls import path

        return [
            path("import-logins/", self.admin_site.admin_view(self.import_logins_view),
                 name="accounts_hmisaccount_import_logins"),
            *super().get_urls(),
        ]

    def import_logins_view(self, request):
        """Upload the HMIS login report: check the whole file, list bad rows by
        line, and apply nothing unless every row is good or the person chose to
        apply the good ones."""
        from django.core.exceptions import PermissionDenied, ValidationError
        from django.shortcuts import redirect
        from django.template.response import TemplateResponse

        from .activity import record_hmis_logins
        from .logins import read_login_report

        if not self.has_change_permission(request):
            raise PermissionDenied
        report = None
        form = LoginReportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["report"]
            try:
                text = upload.read().decode("utf-8-sig")
                report = read_login_report(text.splitlines())
            except UnicodeDecodeError:
                form.add_error("report", "This is not a UTF-8 text (CSV) file. Export the report as CSV.")
            except ValidationError as exc:
                form.add_error("report", exc)
            else:
                if report.bad_rows and not form.cleaned_data["apply_good_rows"]:
                    messages.error(request, f"{len(report.bad_rows)} bad row(s) of {report.rows}: nothing was "
                                            "applied. Fix the file, or tick “apply the good rows anyway”.")
                else:
                    result = record_hmis_logins(report.logins)
                    skipped = f"; {len(report.bad_rows)} bad row(s) skipped" if report.bad_rows else ""
                    messages.success(request, f"{report.rows} row(s) read: {result.summary()}{skipped}.")
                    if not report.bad_rows:
                        return redirect("admin:accounts_hmisaccount_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload the HMIS login report",
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "accounts/admin/import_logins.html", context)


@admin.register(ReactivationRequest)
class ReactivationRequestAdmin(admin.ModelAdmin):
    list_display = ("account", "status", "requested_by", "requested_at", "due_on", "processed_by")
    list_filter = ("status",)
    search_fields = ("account__hmis_username", "account__user__email", "account__organization__name")
    list_select_related = ("account", "requested_by", "processed_by")
    readonly_fields = [f.name for f in ReactivationRequest._meta.fields]
    actions = ["reactivate"]
    inlines = [AuditTimelineInline]

    def has_add_permission(self, request):
        return False  # asked for in the portal by the agency or the user

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Reactivate the selected accounts", permissions=["change"])
    def reactivate(self, request, queryset):
        from django.core.exceptions import ValidationError

        from .activity import hmis_account_reactivate

        done = 0
        for reactivation in queryset.order_by("account_id"):
            try:
                hmis_account_reactivate(actor=request.user, reactivation_request=reactivation)
                done += 1
            except ValidationError as exc:
                messages.error(request, f"{reactivation.account}: {' '.join(exc.messages)}")
        if done:
            messages.success(request, f"{done} account(s) reactivated; each user was told to log in today.")
