from django.contrib import admin

from accounts.admin_base import PolicyAdmin

from .models import SignInPolicy


@admin.register(SignInPolicy)
class SignInPolicyAdmin(PolicyAdmin):
    list_display = ("__str__", "require_two_factor_for_agency_users", "idle_timeout_minutes", "idle_warning_minutes")
