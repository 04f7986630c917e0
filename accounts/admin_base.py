"""The admin as a client of the authorization module and the services (STYLE §4).

`PortalAdmin` asks `accounts.access.may_admin` whether a person may view or
change a model, instead of Django's model permissions, so the admin and the
portal answer from the same rules: each admin class declares the work
(`access.Work`) that may view its model (`view_work`, or
`access.EVERY_COC_GROUP`) and the work that may change it (`change_work`);
an admin that declares neither is for superusers. State changes in the admin are buttons and
actions that call a service: `transition_urls` wires a button to a small view,
and `run_each` runs an action row by row, reporting each refusal. What the
admin never offers on a model is declared (`addable`, `changeable`,
`deletable` = False) and read by `Locks` (from the core, whose admins use it
too; inlines take it as a mixin).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Value
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.utils.text import capfirst
from django.urls import path, reverse

from hmis_portal.core.admin import Locks
from hmis_portal.core.errors import REFUSALS, refusal_messages
from hmis_portal.core.inputs import add_text_validators

from . import access


class AuthorizedAdmin(admin.ModelAdmin):
    """View and change as `access.may_admin` answers (adding and deleting go with changing)."""

    # The work whose CoC staff view and change this model (see the module's docstring).
    view_work: "access.Work | str | None" = None
    change_work: "access.Work | None" = None

    def has_module_permission(self, request):
        return access.may_admin(request.user, "view", self)

    def has_view_permission(self, request, obj=None):
        return access.may_admin(request.user, "view", self)

    def has_change_permission(self, request, obj=None):
        return access.may_admin(request.user, "change", self)

    def has_add_permission(self, request, *args):
        return access.may_admin(request.user, "change", self)

    def has_delete_permission(self, request, obj=None):
        return access.may_admin(request.user, "change", self)


class PortalAdmin(Locks, AuthorizedAdmin):
    """Every admin of the portal's models. Whatever a model's life never
    allows by hand is declared, not overridden: `addable = False` (rows a
    service makes), `changeable = False` (read-only pages), `deletable =
    False` (retired or cancelled instead); the rest is `access.may_admin`."""

    # url suffix -> (predicate(user, obj) -> bool); each needs a `<name>_view` method.
    transitions: dict = {}
    # A filtered list says "Show all" rather than counting the whole table a
    # second time: one COUNT(*) a page, whatever the table's size.
    show_full_result_count = False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        """Text typed in the admin is held to the same bounds as in the portal
        (`hmis_portal.core.inputs`): no control characters, and a field typed
        on one line (a name, a title, an id) carries no line break or invisible
        formatting character."""
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None:
            add_text_validators([formfield])
        return formfield

    def get_changelist_form(self, request, **kwargs):
        """Each editable cell of a list (`list_editable`) is named by its column
        and its row, "Sort order of HMIS 10": Django's own inputs there have no
        label, and a screen reader heard only "spin button"."""
        form = super().get_changelist_form(request, **kwargs)

        class Labelled(form):
            def __init__(self, *args, **options):
                super().__init__(*args, **options)
                for field in self.fields.values():
                    if not field.widget.is_hidden:
                        field.widget.attrs["aria-label"] = f"{capfirst(field.label)} of {self.instance}"

        return Labelled

    # --- buttons on the change page ------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        extra = [path(f"<path:object_id>/{name}/", self.admin_site.admin_view(getattr(self, f"{name}_view")),
                      name=f"{info[0]}_{info[1]}_{name}") for name in self.transitions]
        return extra + super().get_urls()

    def change_url(self, obj) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])

    def _allowed_object(self, request, object_id, name):
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        allowed = self.transitions[name]
        if not (self.has_view_permission(request, obj) and allowed(request.user, obj)):
            raise PermissionDenied
        return obj

    def run(self, request, call, success: str) -> bool:
        try:
            call()
        except REFUSALS as exc:
            self.message_user(request, " ".join(refusal_messages(exc)), messages.ERROR)
            return False
        self.message_user(request, success, messages.SUCCESS)
        return True

    def post_transition(self, request, object_id, name, call, success):
        """A button that posts: call the service, back to the change page."""
        obj = self._allowed_object(request, object_id, name)
        if request.method == "POST":
            self.run(request, lambda: call(obj), success)
        return HttpResponseRedirect(self.change_url(obj))

    def form_transition(self, request, object_id, name, form_class, title, call, success,
                        template="admin/portal_transition_form.html", initial=None):
        """A button that asks for input first (a reason, a question); `initial(obj)`
        fills the form with what the object holds now."""
        obj = self._allowed_object(request, object_id, name)
        form = form_class(request.POST if request.method == "POST" else None,
                          initial=initial(obj) if initial else None)
        if request.method == "POST" and form.is_valid():
            if self.run(request, lambda: call(obj, **form.cleaned_data), success):
                return HttpResponseRedirect(self.change_url(obj))
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "object": obj,
                   "opts": self.opts, "original": obj}
        return TemplateResponse(request, template, context)

    def run_each(self, request, queryset, call, done: str) -> None:
        """An action: the service per selected row, in primary-key order (the
        order the sweeps lock in); each refusal is reported as it is. `done`
        may use {n} (how many) and {s} (a plural s)."""
        count, problems = 0, []
        for obj in queryset.order_by("pk"):
            try:
                call(obj)
                count += 1
            except REFUSALS as exc:
                problems.append(f"{obj}: {' '.join(refusal_messages(exc))}")
        if count:
            self.message_user(request, done.format(n=count, s=pluralize(count)), messages.SUCCESS)
        for problem in problems:
            self.message_user(request, problem, messages.WARNING)


class PolicyAdmin(PortalAdmin):
    """A one-row policy table: edited, never added twice or deleted."""

    deletable = False

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request) and self.model._meta.label_lower not in self._filled(request)

    def _filled(self, request) -> set[str]:
        """The policy tables that hold their row: every page of the admin asks
        each policy's Add link for its menu, so one query per request answers
        them all (a union of the one-row tables), not one query per table."""
        filled = getattr(request, "_filled_policy_tables", None)
        if filled is None:
            tables = [model.objects.order_by().values(policy_table=Value(model._meta.label_lower, output_field=CharField()))
                      for model, model_admin in self.admin_site._registry.items()
                      if isinstance(model_admin, PolicyAdmin)]
            filled = set(tables[0].union(*tables[1:]).values_list("policy_table", flat=True))
            request._filled_policy_tables = filled
        return filled
