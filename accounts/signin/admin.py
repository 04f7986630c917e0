from django.contrib import admin

from accounts import access
from accounts.admin_base import PolicyAdmin

from .models import SignInPolicy


@admin.register(SignInPolicy)
class SignInPolicyAdmin(PolicyAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.SYSTEM

    list_display = ("__str__", "require_two_factor_for_agency_users", "idle_timeout_minutes", "idle_warning_minutes")
