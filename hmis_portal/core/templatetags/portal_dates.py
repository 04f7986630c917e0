"""`|deadline`, `|moment`, `|day` and `|deadline_before` (hmis_portal.core.dates); built in, no load needed."""

import datetime as dt

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
# A day something happens unless acted on ("goes Inactive on Sun, Nov 22") read as
# the deadline it sets: the end of the day before ("Due by end of Sat, Nov 21").
register.filter("deadline_before", _or_empty(lambda day: dates.deadline_text(day - dt.timedelta(days=1))))
