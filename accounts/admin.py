from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from guardian.admin import GuardedModelAdmin

from hmis_portal.core.admin import AuditTimelineInline

from .models import AccessPolicy, HMISAccount, Membership, Organization, User


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


@admin.register(HMISAccount)
class HMISAccountAdmin(admin.ModelAdmin):
    list_display = ("hmis_username", "user", "organization", "hmis_role", "status", "last_hmis_login_at")
    list_filter = ("status", "hmis_role", "organization")
    search_fields = ("hmis_username", "user__email", "user__full_name", "organization__name")
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")


# --- access requests: the provisioning staff's side ------------------------

from django import forms  # noqa: E402
from django.contrib import messages  # noqa: E402
from django.core.exceptions import PermissionDenied, ValidationError  # noqa: E402
from django.shortcuts import get_object_or_404, redirect  # noqa: E402
from django.template.response import TemplateResponse  # noqa: E402
from django.urls import path, reverse  # noqa: E402
from django.utils.html import format_html, format_html_join  # noqa: E402

from .models import AccessRequest  # noqa: E402


class GrantForm(forms.Form):
    hmis_username = forms.CharField(label="HMIS username", max_length=150)
    hmis_role = forms.CharField(label="HMIS role", max_length=80,
                                help_text="The highest-ranked of the user's CES roles, unless you have a reason.")


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "status", "provisioning_due_on", "ready_at", "provisioned_at")
    list_filter = ("status", "organization")
    search_fields = ("user__email", "user__full_name", "organization__name", "hmis_username")
    list_select_related = ("user", "organization")
    ordering = ("provisioning_due_on", "-created_at")
    fields = ("user", "organization", "new_hmis_user", "status", "checklist", "grant", "ready_at",
              "provisioning_due_on", "provisioned_at", "provisioned_by", "hmis_username", "hmis_role",
              "requested_by", "created_at")
    readonly_fields = fields
    inlines = [AuditTimelineInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="checklist")
    def checklist(self, obj):
        from .checklist import build_checklist

        result = build_checklist(obj)
        rows = format_html_join(
            "", "<li>{} {} — {}</li>",
            (("✔" if item.done else "✘", item.label, item.status) for item in result.items),
        )
        return format_html("<ul>{}</ul><p>HMIS role to provision: <strong>{}</strong></p>", rows,
                           result.hmis_role or "—")

    @admin.display(description="grant access")
    def grant(self, obj):
        if obj.status != AccessRequest.Status.READY:
            return "Only a request that is ready for provisioning can be granted."
        return format_html('<a class="button" href="{}">Grant HMIS access</a>',
                           reverse("admin:accounts_accessrequest_grant", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:pk>/grant/", self.admin_site.admin_view(self.grant_view), name="accounts_accessrequest_grant"),
            *super().get_urls(),
        ]

    def grant_view(self, request, pk):
        from .checklist import build_checklist
        from .services import access_request_grant

        if not request.user.has_perm("accounts.change_accessrequest"):
            raise PermissionDenied
        access_request = get_object_or_404(AccessRequest.objects.select_related("user", "organization"), pk=pk)
        checklist = build_checklist(access_request)
        change_url = reverse("admin:accounts_accessrequest_change", args=[pk])
        if request.method == "POST":
            form = GrantForm(request.POST)
            if form.is_valid():
                try:
                    access_request_grant(actor=request.user, access_request_id=pk, **form.cleaned_data)
                except ValidationError as exc:
                    self.message_user(request, " ".join(exc.messages), messages.ERROR)
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
        return TemplateResponse(request, "accounts/admin/grant_access.html", context)
