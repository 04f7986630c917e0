from django.contrib import admin

from accounts import access
from accounts.admin_base import Locks, PolicyAdmin, PortalAdmin
from hmis_portal.core.admin import AuditTimelineInline

from .models import NeedStatus, Referral, ReferralPolicy, ReferralTransition

CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_email", "contact_notes")


@admin.register(NeedStatus)
class NeedStatusAdmin(PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.REFERRAL_POLICY

    list_display = ("name", "set_by", "standard_label", "is_initial", "is_final", "returns_to_matching",
                    "referral_result", "sort_order")
    list_editable = ("sort_order",)
    list_filter = ("set_by", "is_final")
    search_fields = ("name", "code")
    filter_horizontal = ("allowed_next",)
    fieldsets = (
        (None, {"fields": ("name", "code", "description", "sort_order")}),
        ("Who and when", {"fields": ("set_by", "standard_days", "day_kind", "counted_from",
                                     "no_response_status")}),
        ("Where it leads", {"fields": ("is_initial", "is_final", "returns_to_matching", "requires_reason",
                                       "referral_result", "allowed_next")}),
    )

    @admin.display(description="timeliness standard")
    def standard_label(self, obj):
        return obj.standard_label()

    # Referrals and their history point at statuses; retire one by
    # removing it from every "allowed next" list instead.
    deletable = False


@admin.register(ReferralPolicy)
class ReferralPolicyAdmin(PolicyAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.REFERRAL_POLICY


class TransitionInline(Locks, admin.TabularInline):
    model = ReferralTransition
    fields = ("made_at", "from_status", "to_status", "actor", "note", "within_standard", "days_in_status")
    readonly_fields = fields
    extra = 0
    can_delete = False

    addable = False


@admin.register(Referral)
class ReferralAdmin(PortalAdmin):
    """Read-only: referrals change through the portal's services (one audited
    transition each). Contact details only for the CES team (SPEC §3.4)."""
    view_work = access.Work.REFERRALS
    change_work = access.Work.REFERRALS

    list_display = ("pk", "hmis_client_id", "program", "status", "is_open", "due_at", "referred_at")
    # No filter by agency: it would list every agency of the CoC on every
    # page (a query, and a list that grows); the search finds an agency's referrals.
    list_filter = ("is_open", "status")
    search_fields = ("hmis_client_id", "program__name", "program__organization__name")
    list_select_related = ("program__organization", "status")
    date_hierarchy = "referred_at"
    inlines = [TransitionInline, AuditTimelineInline]

    def get_fields(self, request, obj=None):
        fields = [f.name for f in Referral._meta.fields if f.name != "id"]
        if not access.can_match(request.user):
            fields = [f for f in fields if f not in CONTACT_FIELDS]
        return fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    addable = changeable = deletable = False
