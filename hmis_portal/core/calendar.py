"""The CoC's business-day calendar (SPEC §4).

Business days are Monday to Friday, less US federal holidays (observed dates,
from the `holidays` package) and the days CoC staff add as `Holiday` rows.
Every date is a date in the CoC's time zone (settings.TIME_ZONE), never a UTC
date: a request made at 10 p.m. on a Friday in Los Angeles was made on Friday.

"Within N business days" of a moment means by the end of the Nth business day
after that moment's local date: ready on the Wednesday before Thanksgiving,
due the following Tuesday.
"""

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import holidays
from django.utils import timezone


def coc_timezone():
    return timezone.get_default_timezone()


def local_date(moment: dt.datetime | None = None) -> dt.date:
    """The CoC's calendar date at `moment` (now when omitted)."""
    moment = moment or timezone.now()
    return timezone.localtime(moment, coc_timezone()).date()


def start_of_day(day: dt.date) -> dt.datetime:
    """Local midnight at the start of `day`, as an aware datetime."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=coc_timezone())


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after `day` ends locally (exclusive bound): the moment a
    deadline "by the end of `day`" is missed."""
    return start_of_day(day + dt.timedelta(days=1))


def by_end_of_day(due: dt.datetime) -> bool:
    """True when a stored deadline moment is the end of a local day (local
    midnight: how `end_of_day` stores "by the end of the day"), False when it
    names a time of day (a deadline in hours)."""
    return timezone.localtime(due, coc_timezone()).time() == dt.time.min


def deadline_day(due: dt.datetime) -> dt.date:
    """The local day a deadline moment falls in: for the end of a day (local
    midnight) the day that ends, otherwise the moment's own date."""
    day = local_date(due)
    return day - dt.timedelta(days=1) if by_end_of_day(due) else day


@lru_cache(maxsize=64)
def _federal_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.US(years=year, observed=True).keys())


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days with the CoC's own closures loaded once, so a loop over
    many deadlines does not query per row."""

    extra_closures: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def load(cls) -> "BusinessCalendar":
        from . import cached
        from .models import Holiday

        # The days themselves, once per request and kept between requests
        # until a holiday is added, changed or removed (core.cached).
        return cls(cached.read(Holiday.cache_name(),
                               lambda: frozenset(Holiday.objects.values_list("date", flat=True))))

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in _federal_holidays(day.year) and day not in self.extra_closures

    def add_business_days(self, start: dt.date | dt.datetime, days: int) -> dt.date:
        """The date `days` business days after `start` (a date, or a moment taken
        at its local date). The start date itself never counts, so a moment on
        a weekend or holiday counts from the next business day."""
        if days < 0:
            raise ValueError("days must be zero or more")
        day = local_date(start) if isinstance(start, dt.datetime) else start
        while days:
            day += dt.timedelta(days=1)
            if self.is_business_day(day):
                days -= 1
        return day

    def business_days_between(self, start: dt.date, end: dt.date) -> int:
        """Business days after `start` up to and including `end`; negative when
        `end` is before `start`. Used for "age" and "days left" figures."""
        if end < start:
            return -self.business_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_business_day(day)
        return count


def add_business_days(start: dt.date | dt.datetime, days: int) -> dt.date:
    return BusinessCalendar.load().add_business_days(start, days)


def business_days_between(start: dt.date, end: dt.date) -> int:
    return BusinessCalendar.load().business_days_between(start, end)


def is_business_day(day: dt.date) -> bool:
    return BusinessCalendar.load().is_business_day(day)


def as_of(at: str | dt.datetime | None) -> dt.datetime:
    """The moment a periodic job acts as of: its `at` argument, or now.
    Naive values are taken in the CoC's time zone."""
    if at is None:
        return timezone.now()
    moment = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, coc_timezone())
    return moment
