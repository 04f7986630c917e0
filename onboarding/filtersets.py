"""The CES Participation Status List's filters (search, CES role, program
type, stage), from the query string. The stage is derived row by row from the
agreements and programs, so it is validated here and applied by the selector.
The roles and program types offered are the CoC's rows as `core.cached`
keeps them (`named`): the form costs no query, and a code it does not know
is refused as before.

The list's page reads its filters without a filter set of its own (`cleaned`,
`applied`: the same fields clean the values and the same methods filter) and
draws the form from a copy drawn once per process (`drawn`): building the
filter set and its form copied every filter and field, and drawing it
walked every option, on each request of a page every person opens."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django_filters.constants import EMPTY_VALUES

from hmis_portal.core.addresses import kept

from accounts.models import Organization

from .models import CESOrganizationRole, ParticipationStage, Program, ProgramType


class StatusListFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Search", method="filter_search", max_length=100,
                                  widget=forms.TextInput(attrs={"placeholder": "Organization or program",
                                                                "type": "search"}))
    stage = django_filters.ChoiceFilter(label="Stage", choices=ParticipationStage.choices, empty_label="Any stage",
                                        method="filter_stage")
    role = django_filters.ChoiceFilter(label="CES role", choices=CESOrganizationRole.named, method="filter_role",
                                       empty_label="Any role")
    program_type = django_filters.ChoiceFilter(label="Program type", choices=ProgramType.named,
                                               method="filter_program_type", empty_label="Any program type")

    class Meta:
        model = Organization
        fields = []

    def get_form_class(self):
        # The form's fields are the same on every request (the roles and
        # program types offered are read when a field is drawn or checked),
        # so its class is built once per filter set class, not per request
        # (each form copies its fields). A subclass (the API's) builds its own.
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            for field in form_class.base_fields.values():
                field.widget.attrs["class"] = ("form-select form-select-sm" if isinstance(field.widget, forms.Select)
                                               else "form-control form-control-sm")
            type(self)._form_class = form_class
        return form_class

    # Static: `applied` calls them from the class, as a filter set calls them from itself.
    # An agency's programs are asked of with EXISTS, not joined: a join gives
    # an agency once per program and needs DISTINCT, under which the list's
    # page could not count its rows in the query that reads them.
    @staticmethod
    def filter_search(queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Exists(Program.objects.filter(
            organization=OuterRef("pk"), name__icontains=value)))

    # The value's type hint is what the API's schema says of the parameter: a
    # role's code. An agency names a role once (a join gives it once).
    @staticmethod
    def filter_role(queryset, name, value: str):
        return queryset.filter(ces_roles__role__code=value)

    @staticmethod
    def filter_program_type(queryset, name, value: str):
        return queryset.filter(Exists(Program.objects.filter(organization=OuterRef("pk"), program_type__code=value)))

    @staticmethod
    def filter_stage(queryset, name, value):
        return queryset  # derived per row: `selectors.status_list` applies it

    @classmethod
    def cleaned(cls, data) -> dict | None:
        """The filters' values from a query string as the filter set's form
        cleans them, by the same fields (the class's own, whose choices are
        read when a value is checked); None when one does not validate, or
        when there is no query string (an unbound filter set is not valid)."""
        if not data:
            return None
        values = {}
        for name, filter_ in cls.base_filters.items():
            field = filter_.field
            try:
                values[name] = field.clean(field.widget.value_from_datadict(data, {}, name))
            except ValidationError:
                return None
        return values

    @classmethod
    def applied(cls, queryset, values: dict):
        """`queryset` filtered by the `cleaned` values, as the filter set's `qs` filters it."""
        for name, value in values.items():
            if value not in EMPTY_VALUES:
                queryset = getattr(cls, cls.base_filters[name].method)(queryset, name, value)
        return queryset

    @classmethod
    def drawn(cls, data) -> str:
        """The form's fields as the page's template drew them through Django's
        widget templates ("onboarding/status_list.html"), with the values of
        the query string `data` (each as the form takes it: the last given).
        The rest is drawn once per process for the roles and program types
        offered (`named`) and the language, by Django's own widgets."""
        key = (cls, get_language(), tuple(CESOrganizationRole.named()), tuple(ProgramType.named()))
        parts = kept(_DRAWN, key, cls._draw_parts)
        return mark_safe("".join(
            part if isinstance(part, str) else part(data.get(part.name)) for part in parts))

    @classmethod
    def _draw_parts(cls) -> list:
        """The form's markup as text, with a `_Text` or `_Select` in place of
        each field's input: those draw it for the given value."""
        form = cls().form
        parts = []
        for field in form:
            parts.append(FIELD_HEAD.format(id=conditional_escape(field.id_for_label),
                                           label=conditional_escape(field.label)))
            if isinstance(field.field.widget, forms.Select):
                parts.append(_Select(form, field.name))
            else:
                parts.append(_Text(form, field.name))
            parts.append(FIELD_TAIL)
        return parts


# A field of the form as the page's template laid it out (its loop's body).
FIELD_HEAD = '\n  <div class="col-md-3">\n    <label class="form-label small" for="{id}">{label}</label>\n    '
FIELD_TAIL = "\n  </div>\n  "
# The drawn forms (`StatusListFilter.drawn`), by what they depend on.
_DRAWN: dict = {}
# Marks where a value goes in an input drawn once (only there: a person's value is written in its place).
_MARK = "\x01"


def _bound(form, name: str, value):
    """The field `name` of a copy of `form` bound to `value`."""
    return type(form)(data={name: value}, prefix=form.prefix)[name]


class _Text:
    """A text input: drawn by Django once with a marked value, and split
    where the value goes. A value the field refuses is drawn by Django (it
    marks the input invalid): a rare request, never a page's link."""

    def __init__(self, form, name):
        self.form, self.name = form, name
        self.empty = str(_bound(form, name, "").as_widget())
        self.head, self.tail = str(_bound(form, name, _MARK).as_widget()).split(f' value="{_MARK}"')

    def __call__(self, value) -> str:
        if value in EMPTY_VALUES:
            return self.empty
        try:
            self.form.fields[self.name].clean(value)
        except ValidationError:
            return str(_bound(self.form, self.name, value).as_widget())
        return f'{self.head} value="{conditional_escape(value)}"{self.tail}'


class _Select:
    """A select: drawn by Django once for each of its options chosen. A value
    it does not offer is drawn by Django (it marks the select invalid)."""

    def __init__(self, form, name):
        self.form, self.name = form, name
        self.chosen = {}
        for value, _label in form.fields[name].choices:
            value = "" if value is None else str(value)
            self.chosen.setdefault(value, str(_bound(form, name, value).as_widget()))
        self.chosen[None] = str(_bound(form, name, None).as_widget())

    def __call__(self, value) -> str:
        drawn = self.chosen.get(value)
        return drawn if drawn is not None else str(_bound(self.form, self.name, value).as_widget())
