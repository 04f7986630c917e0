"""One wording for deadlines and moments, in the CoC's time zone (SPEC §4).

Every page and email says a deadline the same way — "Due by end of Wed, Nov 25"
— and a moment the same way — "3:40 PM Tue, Nov 24" — in the CoC's local time,
never a UTC date: at 11 p.m. on a Friday in Los Angeles it is still Friday.
The year is added only when it is not the current local year, so a date next
January is not read as last January.
"""

import datetime as dt

from django.utils import timezone

from .calendar import by_end_of_day, coc_timezone, deadline_day, local_date


def _day(day: dt.date) -> str:
    text = f"{day:%a}, {day:%b} {day.day}"
    return text if day.year == local_date().year else f"{text}, {day.year}"


def day_text(day: dt.date | dt.datetime) -> str:
    """A calendar day, "Wed, Nov 25"; a moment is taken at its local date."""
    return _day(local_date(day) if isinstance(day, dt.datetime) else day)


def moment_text(moment: dt.datetime) -> str:
    """A moment in local time: "3:40 PM Tue, Nov 24"."""
    local = timezone.localtime(moment, coc_timezone())
    hour = local.hour % 12 or 12
    return f"{hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'} {_day(local.date())}"


def deadline_text(due: dt.date | dt.datetime) -> str:
    """A deadline, the one wording of every page and email: a day reads
    "Due by end of Wed, Nov 25", a moment "Due by 3:40 PM Tue, Nov 24".

    A date means by the end of that local day. A moment that falls on local
    midnight is the exclusive end of the day before (how day deadlines are
    stored: calendar.end_of_day), so it reads as that day; any other moment (a
    deadline in hours) is named in local time."""
    if isinstance(due, dt.datetime):
        if not by_end_of_day(due):
            return f"Due by {moment_text(due)}"
        due = deadline_day(due)
    return f"Due by end of {_day(due)}"
