"""API keys in the admin, for system administrators: making one shows the
key once (never again), and rotating and revoking are buttons (and revoking
an action) that call the services; nothing edits a key by hand."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from accounts import access
from accounts.admin_base import PortalAdmin
from hmis_portal.core.admin import AuditTimelineInline
from hmis_portal.core.errors import REFUSALS, refusal_messages

from . import services
from .models import ApiKey, Scope

SHOWN_ONCE = "apikeys/admin/apikey_shown_once.html"


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       help_text="The key does what its owner may, within these scopes only.")
    actor = None

    class Meta:
        model = ApiKey
        fields = ("owner", "name", "scopes")

    def clean_scopes(self):
        return services.clean_scopes(scopes=self.cleaned_data["scopes"])

    def clean(self):
        cleaned = super().clean()
        owner, scopes = cleaned.get("owner"), cleaned.get("scopes")
        if owner is not None and scopes:
            refusal = access.api_key_refusal(self.actor, owner, scopes.split())
            if refusal:
                raise ValidationError(refusal)
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(PortalAdmin):
    view_work = access.Work.SYSTEM
    change_work = access.Work.SYSTEM
    deletable = False  # revoked keys stay, with their history

    change_form_template = "apikeys/admin/apikey_change_form.html"
    list_display = ("name", "shown_prefix", "owner", "scopes", "status", "created_at", "last_used_at")
    list_filter = ("scopes",)
    search_fields = ("name", "prefix", "owner__email", "owner__full_name")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    readonly_fields = ("name", "owner", "scopes", "shown_prefix", "status", "created_at", "created_by",
                       "last_used_at", "rotated_at", "revoked_at", "revoked_by")
    inlines = [AuditTimelineInline]
    actions = ["revoke_selected"]
    transitions = {"revoke": access.can_revoke_api_key, "rotate": access.can_rotate_api_key}

    @admin.display(description="key")
    def shown_prefix(self, key):
        return f"{key.shown_prefix}…"

    def has_change_permission(self, request, obj=None):
        # A key's page is view-only: "change" means making, rotating and revoking.
        return obj is None and super().has_change_permission(request)

    def has_revoke_permission(self, request):
        return access.can_manage_api_keys(request.user)

    def get_fields(self, request, obj=None):
        return ApiKeyCreateForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return type("ActorApiKeyCreateForm", (ApiKeyCreateForm,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied
        key, plain = services.api_key_create(actor=request.user, owner=form.cleaned_data["owner"],
                                             name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"].split())
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        obj._plain_key = plain

    def save_related(self, request, form, formsets, change):
        pass  # the key has no related rows to save; the service wrote it

    def response_add(self, request, obj, post_url_continue=None):
        return self._shown_once(request, obj, obj._plain_key, "New API key")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_rotate"] = access.can_rotate_api_key(request.user, obj)
            context["can_revoke"] = access.can_revoke_api_key(request.user, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _shown_once(self, request, key, plain, title):
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title, "key": key,
                   "plain_key": plain}
        response = TemplateResponse(request, SHOWN_ONCE, context)
        response["Cache-Control"] = "no-store"
        return response

    def revoke_view(self, request, object_id):
        return self.post_transition(request, object_id, "revoke",
                                    lambda key: services.api_key_revoke(actor=request.user, key=key),
                                    "The key is revoked: it no longer works.")

    def rotate_view(self, request, object_id):
        key = self._allowed_object(request, object_id, "rotate")
        if request.method != "POST":
            return HttpResponseRedirect(self.change_url(key))
        try:
            key, plain = services.api_key_rotate(actor=request.user, key=key)
        except REFUSALS as exc:
            self.message_user(request, " ".join(refusal_messages(exc)), messages.ERROR)
            return HttpResponseRedirect(self.change_url(key))
        return self._shown_once(request, key, plain, "Rotated API key")

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        self.run_each(request, queryset.filter(revoked_at__isnull=True),
                      lambda key: services.api_key_revoke(actor=request.user, key=key), "{n} key{s} revoked.")
