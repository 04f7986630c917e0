"""The referral list's filters, from the query string (the counts report's
links, the client search). An id that cannot be one (not a whole number, or
beyond what the database stores) is a form error shown on the page, never a
server error."""

import django_filters
from django import forms
from django.db import connection

from .models import Referral

_LOWEST, _HIGHEST = connection.ops.integer_field_range(Referral._meta.pk.get_internal_type())


class IdField(forms.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", _HIGHEST)
        message = "That is not an id the portal uses."
        kwargs.setdefault("error_messages", {"min_value": message, "max_value": message, "invalid": message})
        super().__init__(**kwargs)


class IdFilter(django_filters.Filter):
    field_class = IdField


class ReferralFilter(django_filters.FilterSet):
    program = IdFilter(field_name="program_id", label="Program")
    status = IdFilter(field_name="status_id", label="Need status")
    organization = IdFilter(field_name="program__organization_id", label="Agency")
    client = django_filters.CharFilter(label="HMIS client ID", max_length=32, method="filter_client")
    due = django_filters.ChoiceFilter(choices=[("overdue", "Overdue"), ("soon", "Due soon")], method="filter_none")
    queue = django_filters.ChoiceFilter(choices=[("returned", "Returned for re-referral"), ("closed", "Closed")],
                                        method="filter_none")

    class Meta:
        model = Referral
        fields = []

    def filter_client(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(hmis_client_id=value) if value else queryset

    def filter_none(self, queryset, name, value):
        # `due` and `queue` choose the list (and its order) in
        # selectors.referral_list, which the view calls with the cleaned values.
        return queryset
