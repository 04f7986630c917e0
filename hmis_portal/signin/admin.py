from django.contrib import admin

from .models import SignInPolicy


@admin.register(SignInPolicy)
class SignInPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "require_two_factor_for_agency_users", "idle_timeout_minutes", "idle_warning_minutes")

    def has_add_permission(self, request):
        return not SignInPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
