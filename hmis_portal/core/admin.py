from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.contenttypes.admin import GenericTabularInline
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.template.defaultfilters import pluralize
from django.utils.text import capfirst

from . import outbox
from .models import AuditEvent, Holiday, Notification


class LabelledCells:
    """Each input of a tabular inline is named by its column and its row
    ("Persona of Robin Alder at Harbor Light"), its delete box by its row:
    Django draws them under a column heading with no label of their own, and
    a screen reader heard only "combo box" or "check box" (axe: select-name,
    label). `row_name` says what a row is; a new row is "the new row"."""

    def row_name(self, obj) -> str:
        return str(obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = RowAutocomplete(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        row_name = self.row_name

        def add_fields(this, form, index):
            formset.add_fields(this, form, index)
            row = row_name(form.instance) if form.instance.pk else "the new row"
            for name, field in form.fields.items():
                if not field.widget.is_hidden:
                    field.widget.attrs["aria-label"] = (f"Delete {row}" if name == "DELETE"
                                                        else f"{capfirst(field.label)} of {row}")
                chosen = getattr(field.widget, "widget", field.widget)
                if isinstance(chosen, RowAutocomplete) and form.instance.pk:
                    chosen.row = form.instance

        return type(formset.__name__, (formset,), {"add_fields": add_fields})


class RowAutocomplete(AutocompleteSelect):
    """An inline row's autocomplete that names the row's own choice from the
    row as read (with its `select_related`): Django's asks the database for
    it once per row, a thousand queries on an agency of a thousand people."""

    row = None

    def optgroups(self, name, value, attr=None):
        chosen = getattr(self.row, self.field.name, None) if self.row is not None else None
        selected = {str(v) for v in value if str(v) not in self.choices.field.empty_values}
        if chosen is None or selected != {str(chosen.pk)}:
            return super().optgroups(name, value, attr)
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        options.append(self.create_option(name, chosen.pk, self.choices.field.label_from_instance(chosen),
                                          selected, len(options)))
        return [(None, options, 0)]


class Locks:
    """What the admin never offers on a model, whoever asks: `addable`,
    `changeable` or `deletable` set to False (rows that only a service makes,
    records that are evidence). What is not locked is asked of the next class
    (for the portal's admins, `accounts.admin_base.PortalAdmin`: the
    authorization module). For a ModelAdmin or an inline alike; here in the
    core so that the core's own admins lock with it too."""

    addable = changeable = deletable = True

    def has_add_permission(self, request, *args, **kwargs):
        return self.addable and super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return self.changeable and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)


class AuditTimelineInline(Locks, GenericTabularInline):
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
    addable = changeable = False


class KindFilter(admin.SimpleListFilter):
    """The kind of object an event is about, from the content types Django
    keeps in memory: the choices cost no query, the list stays a dozen."""

    title = "kind of object"
    parameter_name = "content_type__id__exact"

    def lookups(self, request, model_admin):
        kinds = [ContentType.objects.get_for_model(model) for model in model_admin.admin_site._registry]
        return sorted(((kind.pk, kind.name) for kind in kinds), key=lambda choice: str(choice[1]))

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(content_type_id=int(value)) if value and value.isdigit() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(Locks, admin.ModelAdmin):
    show_full_result_count = False  # one COUNT(*) a list, not two (see PortalAdmin)
    list_display = ("created_at", "actor", "verb", "content_type", "object_repr", "from_state", "to_state")
    list_filter = ("verb", KindFilter)
    search_fields = ("object_repr", "reason", "actor__email", "actor__full_name")
    date_hierarchy = "created_at"
    list_select_related = ("actor", "content_type")

    # The audit trail is evidence: nobody edits or deletes it.
    addable = changeable = deletable = False


@admin.register(Notification)
class NotificationAdmin(Locks, admin.ModelAdmin):
    show_full_result_count = False  # one COUNT(*) a list, not two (see PortalAdmin)
    list_display = ("created_at", "to_email", "subject", "status", "attempts", "sent_at")
    list_filter = ("status",)
    search_fields = ("to_email", "subject")
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = ["retry_now"]
    addable = False

    def changelist_view(self, request, extra_context=None):
        # What system administrators watch during a mail outage: how many
        # messages wait and how many have failed (they are still retried hourly).
        counts = dict(Notification.objects.filter(
            status__in=[Notification.Status.PENDING, Notification.Status.FAILED, Notification.Status.SENDING]
        ).order_by().values("status").annotate(n=Count("pk")).values_list("status", "n"))
        extra_context = {**(extra_context or {}), "outbox_counts": [
            (label, counts.get(value, 0)) for value, label in Notification.Status.choices if value != "sent"]}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Retry the selected failed or pending messages now", permissions=["change"])
    def retry_now(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        queued = outbox.retry_now(actor=request.user, ids=selected)
        skipped = len(selected) - queued
        note = f" {skipped} sent or being sent now were left alone." if skipped else ""
        messages.info(request, f"{queued} message{pluralize(queued)} queued for delivery now.{note}")


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name")
    search_fields = ("name",)
    date_hierarchy = "date"
