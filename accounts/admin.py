from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from guardian.admin import GuardedModelAdmin

from hmis_portal.core.admin import AuditTimelineInline

from .models import Membership, Organization, User


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
