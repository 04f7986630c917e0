import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from hmis_portal.core.calendar import (
    BusinessCalendar,
    add_business_days,
    as_of,
    business_days_between,
    end_of_day,
    is_business_day,
    local_date,
)
from hmis_portal.core.models import Holiday

LA = ZoneInfo("America/Los_Angeles")
d = dt.date
pytestmark = pytest.mark.django_db


def test_the_spec_example_wednesday_before_thanksgiving_is_due_the_following_tuesday():
    # Thu Nov 26 2026 is Thanksgiving; Fri 27 is a working day; weekend skipped.
    assert add_business_days(d(2026, 11, 25), 3) == d(2026, 12, 1)


@pytest.mark.parametrize(
    "start, days, due",
    [
        (d(2026, 11, 20), 3, d(2026, 11, 25)),  # Friday → Wednesday
        (d(2026, 11, 21), 3, d(2026, 11, 25)),  # Saturday counts from Monday
        (d(2026, 11, 26), 3, d(2026, 12, 1)),  # ready on Thanksgiving itself
        (d(2026, 12, 23), 3, d(2026, 12, 29)),  # over Christmas (Fri Dec 25)
        (d(2026, 12, 30), 3, d(2027, 1, 5)),  # over New Year's Day and the year end
        (d(2027, 7, 1), 2, d(2027, 7, 6)),  # Independence Day on a Sunday, observed Monday Jul 5
        (d(2026, 7, 2), 1, d(2026, 7, 6)),  # Jul 4 2026 is a Saturday, observed Friday Jul 3
        (d(2026, 11, 23), 0, d(2026, 11, 23)),
    ],
)
def test_add_business_days_across_weekends_holidays_and_year_ends(start, days, due):
    assert add_business_days(start, days) == due


def test_holidays_coc_staff_add_are_excluded():
    assert add_business_days(d(2026, 11, 25), 3) == d(2026, 12, 1)
    Holiday.objects.create(date=d(2026, 11, 27), name="Day after Thanksgiving")
    assert not is_business_day(d(2026, 11, 27))
    assert add_business_days(d(2026, 11, 25), 3) == d(2026, 12, 2)


def test_a_moment_counts_from_its_local_date_not_its_utc_date():
    # Friday 10 p.m. in Los Angeles is already Saturday in UTC.
    friday_night = dt.datetime(2026, 11, 20, 22, 0, tzinfo=LA)
    assert friday_night.astimezone(dt.timezone.utc).date() == d(2026, 11, 21)
    assert local_date(friday_night) == d(2026, 11, 20)
    assert add_business_days(friday_night, 3) == d(2026, 11, 25)


def test_dst_changes_do_not_move_dates():
    # DST ends Sunday Nov 1 2026 and starts Sunday Mar 8 2026 in Los Angeles.
    before_fallback = dt.datetime(2026, 10, 30, 23, 30, tzinfo=LA)
    assert add_business_days(before_fallback, 1) == d(2026, 11, 2)
    before_springforward = dt.datetime(2026, 3, 6, 23, 59, tzinfo=LA)
    assert add_business_days(before_springforward, 1) == d(2026, 3, 9)
    # The day ends at local midnight whatever the offset that day.
    assert end_of_day(d(2026, 11, 1)) == dt.datetime(2026, 11, 2, 0, 0, tzinfo=LA)
    utc = dt.timezone.utc
    assert end_of_day(d(2026, 11, 1)).astimezone(utc) - end_of_day(d(2026, 10, 31)).astimezone(utc) == dt.timedelta(
        hours=25
    )


def test_business_days_between_counts_ages_and_days_left():
    assert business_days_between(d(2026, 11, 25), d(2026, 12, 1)) == 3
    assert business_days_between(d(2026, 12, 1), d(2026, 11, 25)) == -3
    assert business_days_between(d(2026, 11, 23), d(2026, 11, 23)) == 0


def test_the_calendar_loads_staff_holidays_once(django_assert_num_queries):
    Holiday.objects.create(date=d(2026, 12, 24), name="Christmas Eve")
    with django_assert_num_queries(1):
        calendar = BusinessCalendar.load()
        dues = [calendar.add_business_days(d(2026, 12, 1) + dt.timedelta(days=i), 3) for i in range(60)]
    assert d(2026, 12, 24) not in dues


def test_as_of_reads_naive_moments_in_the_coc_time_zone():
    assert as_of("2026-12-01T00:05") == dt.datetime(2026, 12, 1, 0, 5, tzinfo=LA)
    assert as_of("2026-12-01T08:05+00:00") == dt.datetime(2026, 12, 1, 0, 5, tzinfo=LA)


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        add_business_days(d(2026, 11, 25), -1)
