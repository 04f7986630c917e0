from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.template.defaultfilters import pluralize

from . import outbox
from .models import AuditEvent, Holiday, Notification


class AuditTimelineInline(GenericTabularInline):
    """Add to any ModelAdmin's inlines to show the object's history."""

    model = AuditEvent
    ct_field = "content_type"
    ct_fk_field = "object_id"
    fields = ("created_at", "actor", "verb", "from_state", "to_state", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "history"
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "verb", "content_type", "object_repr", "from_state", "to_state")
    list_filter = ("verb", "content_type")
    search_fields = ("object_repr", "reason", "actor__email", "actor__full_name")
    date_hierarchy = "created_at"
    list_select_related = ("actor", "content_type")

    # The audit trail is evidence: nobody edits or deletes it.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "to_email", "subject", "status", "attempts", "sent_at")
    list_filter = ("status",)
    search_fields = ("to_email", "subject")
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry the selected failed or pending messages now", permissions=["change"])
    def retry_now(self, request, queryset):
        ids = list(queryset.exclude(status=Notification.Status.SENT).values_list("pk", flat=True))
        Notification.objects.filter(pk__in=ids).update(status=Notification.Status.PENDING, attempts=0)
        sent = sum(outbox.deliver(pk) for pk in ids)
        messages.info(request, f"{sent} of {len(ids)} message{pluralize(len(ids))} sent.")


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name")
    search_fields = ("name",)
    date_hierarchy = "date"
