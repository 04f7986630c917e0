"""The CES Participation Status List's filters (search, CES role, program
type, stage), from the query string. The stage is derived row by row from the
agreements and programs, so it is validated here and applied by the selector.
The roles and program types offered are the CoC's rows as `core.cached`
keeps them (`named`): the form costs no query, and a code it does not know
is refused as before."""

import django_filters
from django import forms
from django.db.models import Q

from accounts.models import Organization

from .models import CESOrganizationRole, ParticipationStage, ProgramType


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

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(programs__name__icontains=value)).distinct()

    # The value's type hint is what the API's schema says of the parameter: a role's code.
    def filter_role(self, queryset, name, value: str):
        return queryset.filter(ces_roles__role__code=value)

    def filter_program_type(self, queryset, name, value: str):
        return queryset.filter(programs__program_type__code=value).distinct()

    def filter_stage(self, queryset, name, value):
        return queryset  # derived per row: `selectors.status_list` applies it
