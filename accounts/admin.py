"""People, agencies and the core's records in the admin, each behind the
authorization module: memberships change only through the services (audited,
never for CoC staff), guardian's per-agency permissions only for system
admins, and the audit trail only about what a group's work needs."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from guardian.admin import GuardedModelAdmin

from hmis_portal.core.admin import (AuditEventAdmin, AuditTimelineInline, HolidayAdmin, LabelledCells,
                                     NotificationAdmin)
from hmis_portal.core.models import AuditEvent, Holiday, MailPolicy, Notification

from . import access, services
from .admin_base import PolicyAdmin, PortalAdmin
from .forms import InvitationForm
from .models import Invitation, Membership, Organization, Persona, User


class MembershipFormSet(forms.BaseInlineFormSet):
    """Refuses, with the reason, what the services would refuse: a CoC staff
    member's membership, or one given by someone who may not."""

    actor = None
    # On an agency's page, the first `shown` of its people by name (None: all,
    # as on a person's page): a large agency has hundreds, all on its people page.
    shown = None

    def get_queryset(self):
        if self.shown is not None and not hasattr(self, "_first_shown"):
            rows = super().get_queryset()
            first = rows.order_by("user__full_name", "pk").values("pk")[:self.shown]
            self._first_shown = self._queryset = rows.filter(pk__in=first).order_by("user__full_name", "pk")
        return super().get_queryset()

    def clean(self):
        super().clean()
        for form in self.forms:
            if not form.has_changed() or not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            person = form.cleaned_data.get("user") or getattr(form.instance, "user", None)
            organization = form.cleaned_data.get("organization") or getattr(form.instance, "organization", None)
            if person is None or organization is None:
                continue
            refusal = access.membership_refusal(self.actor, organization, person)
            if refusal:
                raise ValidationError(refusal)


class MembershipInline(LabelledCells, admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "organization", "persona")

    def get_queryset(self, request):
        # Each row is named by its person and agency (LabelledCells): read with the rows.
        return super().get_queryset(request).select_related("user", "organization")

    def row_name(self, obj) -> str:
        return f"{obj.user} at {obj.organization}"

    # An agency's own page edits this many of its people, first by name.
    shown_on_agency = 50

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        shown = None
        if isinstance(obj, Organization) and obj.pk:
            shown = self.shown_on_agency
            people = Membership.objects.filter(organization=obj).count()
            if people > shown:
                self.verbose_name_plural = (f"memberships (the first {shown} of {people:,} by name; "
                                            f"the agency's people page lists them all)")
        return type("ActorMembershipFormSet", (formset,), {"actor": request.user, "shown": shown})

    def has_view_permission(self, request, obj=None):
        return access.may_admin(request.user, "view", OrganizationAdmin)

    def has_change_permission(self, request, obj=None):
        return access.can_manage_memberships(request.user)

    has_add_permission = has_delete_permission = has_change_permission


class MembershipsThroughServices:
    """Memberships edited inline are saved through the audited services."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        # Additions first, removals last, so a person whose persona changes
        # never looks, for a moment, as if they left the agency (which makes
        # their HMIS account Inactive).
        for membership in formset.new_objects:
            services.membership_add(actor=request.user, organization=membership.organization,
                                    person=membership.user, persona=membership.persona)
        replaced = []
        for membership, _changed in formset.changed_objects:
            old = Membership.objects.get(pk=membership.pk)
            if (old.user_id, old.organization_id, old.persona) == (
                    membership.user_id, membership.organization_id, membership.persona):
                continue
            services.membership_add(actor=request.user, organization=membership.organization,
                                    person=membership.user, persona=membership.persona)
            replaced.append(old)
        for membership in [*replaced, *formset.deleted_objects]:
            services.membership_remove(actor=request.user, membership=membership)


@admin.register(User)
class UserAdmin(MembershipsThroughServices, PortalAdmin, BaseUserAdmin):
    view_work = access.Work.MANAGE_AGENCIES
    change_work = access.Work.MANAGE_AGENCIES

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

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not access.can_manage_staff_accounts(request.user):
            # CoC staff accounts, groups and permissions are the system admins' alone.
            return [(name, options) for name, options in fieldsets if name != "Access"]
        return fieldsets

    def get_queryset(self, request):
        return access.restrict_admin_users(super().get_queryset(request), request.user)


@admin.register(Organization)
class OrganizationAdmin(MembershipsThroughServices, PortalAdmin, GuardedModelAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.MANAGE_AGENCIES

    # Object permissions let a regional lead see chosen agencies; only system
    # admins hand them out.
    change_form_template = "admin/accounts/organization/change_form.html"
    list_display = ("name", "created_at")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline, AuditTimelineInline]
    transitions = {"invite": access.can_invite}

    def render_change_form(self, request, context, *args, **kwargs):
        context["can_manage_object_permissions"] = access.can_manage_object_permissions(request.user)
        obj = context.get("original")
        context["can_invite"] = bool(obj and obj.pk and access.can_invite(request.user, obj))
        return super().render_change_form(request, context, *args, **kwargs)

    def invite_view(self, request, object_id):
        return self.form_transition(
            request, object_id, "invite", AdminInvitationForm, "Invite someone to the agency",
            lambda organization, **data: services.invitation_send(actor=request.user, organization=organization,
                                                                  **data),
            "Invitation emailed.")

    def _object_permissions(self, request):
        if not access.can_manage_object_permissions(request.user):
            raise PermissionDenied

    def obj_perms_manage_view(self, request, object_pk):
        self._object_permissions(request)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._object_permissions(request)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._object_permissions(request)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)


class AdminInvitationForm(InvitationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, personas=Persona.values, **kwargs)


@admin.register(Invitation)
class InvitationAdmin(PortalAdmin):
    """Invitations are sent from an agency's page (here: its change page's
    "Invite someone" button); this list resends or revokes them."""
    view_work = access.Work.MANAGE_AGENCIES
    change_work = access.Work.MANAGE_AGENCIES

    list_display = ("email", "organization", "persona", "invited_by", "sent_at", "expires_at", "status")
    list_filter = ("persona",)
    search_fields = ("email", "organization__name")
    list_select_related = ("organization", "invited_by")
    readonly_fields = [f.name for f in Invitation._meta.fields if f.name != "token_hash"]
    exclude = ("token_hash",)
    actions = ["resend_selected", "revoke_selected"]

    addable = deletable = False

    def has_manage_permission(self, request):
        return access.can_manage_memberships(request.user)

    @admin.action(description="Resend the selected invitations (a new link each)", permissions=["manage"])
    def resend_selected(self, request, queryset):
        self.run_each(request, queryset, lambda i: services.invitation_resend(actor=request.user, invitation=i),
                      "{n} invitation{s} resent.")

    @admin.action(description="Revoke the selected invitations", permissions=["manage"])
    def revoke_selected(self, request, queryset):
        self.run_each(request, queryset, lambda i: services.invitation_revoke(actor=request.user, invitation=i),
                      "{n} invitation{s} revoked.")


# --- the core's records, behind the same rules ------------------------------------------------

for model in (AuditEvent, Notification, Holiday):
    admin.site.unregister(model)


@admin.register(AuditEvent)
class AuthorizedAuditEventAdmin(AuditEventAdmin, PortalAdmin):
    """The audit list shows only events about objects the person's work
    needs: a referral's history (the client's story) to the CES team alone."""
    view_work = access.EVERY_COC_GROUP

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        labels = access.history_models_for(request.user)
        if labels is None:
            return queryset
        pairs = [label.split(".") for label in labels]
        allowed = Q(pk__in=[])
        for app_label, model in pairs:
            allowed |= Q(content_type__app_label=app_label, content_type__model=model)
        return queryset.filter(allowed)


@admin.register(Notification)
class AuthorizedNotificationAdmin(NotificationAdmin, PortalAdmin):
    view_work = access.Work.SYSTEM
    change_work = access.Work.SYSTEM


@admin.register(Holiday)
class AuthorizedHolidayAdmin(HolidayAdmin, PortalAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.SYSTEM


@admin.register(MailPolicy)
class MailPolicyAdmin(PolicyAdmin):
    view_work = access.EVERY_COC_GROUP
    change_work = access.Work.SYSTEM
