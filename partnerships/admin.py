from django.contrib import admin

from accounts import access
from accounts.admin_base import Locks, PolicyAdmin, PortalAdmin
from hmis_portal.core.admin import AuditTimelineInline

from . import services
from .forms import ReasonForm
from .models import DataPartnership, IntakeBatch, PartnershipPolicy


@admin.register(PartnershipPolicy)
class PartnershipPolicyAdmin(PolicyAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.DATA_PARTNERSHIPS


class BatchInline(Locks, admin.TabularInline):
    model = IntakeBatch
    fields = ("received_at", "intake_count", "reference", "due_at", "entered_at", "entered_on_time",
              "overdue_notified_at", "escalated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    addable = False


@admin.register(DataPartnership)
class DataPartnershipAdmin(PortalAdmin):
    """Read-only: partnerships change through the portal's services. CoC staff
    end one with a reason (the button calls `partnership_end`)."""
    view_work = access.Work.DATA_PARTNERSHIPS

    change_form_template = "partnerships/admin/datapartnership_change_form.html"
    transitions = {"end": lambda user, p: p.is_open and access.can_end_partnership(user, p)}
    list_display = ("pk", "agency", "partner", "status", "moa_signed_on", "proposed_at", "decided_at", "ended_at")
    list_filter = ("status",)
    search_fields = ("agency__name", "partner__name")
    list_select_related = ("agency", "partner")
    readonly_fields = [f.name for f in DataPartnership._meta.fields if f.name not in ("id", "moa")]
    exclude = ("moa",)
    inlines = [BatchInline, AuditTimelineInline]

    addable = changeable = deletable = False

    def end_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "end", ReasonForm, "End the data partnership",
            lambda p, reason: services.partnership_end(actor=request.user, partnership_id=p.pk, reason=reason),
            "Partnership ended; both agencies were told.")


@admin.register(IntakeBatch)
class IntakeBatchAdmin(PortalAdmin):
    """Read-only: counts and moments only (no client data is ever stored)."""
    view_work = access.Work.DATA_PARTNERSHIPS

    list_display = ("pk", "partnership", "received_at", "intake_count", "due_at", "entered_at", "entered_on_time")
    list_filter = ("entered_on_time",)
    list_select_related = ("partnership__agency", "partnership__partner")
    search_fields = ("partnership__agency__name", "partnership__partner__name", "reference")
    readonly_fields = [f.name for f in IntakeBatch._meta.fields if f.name != "id"]
    inlines = [AuditTimelineInline]

    addable = changeable = deletable = False
