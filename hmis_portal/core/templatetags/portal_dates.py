"""`{% load portal_dates %}`: `|deadline`, `|moment` and `|day` (hmis_portal.core.dates)."""

from django import template

from hmis_portal.core import dates

register = template.Library()


def _or_empty(formatter):
    def apply(value):
        return formatter(value) if value else ""

    return apply


register.filter("deadline", _or_empty(dates.deadline_text))
register.filter("moment", _or_empty(dates.moment_text))
register.filter("day", _or_empty(dates.day_text))
