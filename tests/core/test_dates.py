"""One wording for deadlines and moments, in the CoC's time zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template import Context, Template

from hmis_portal.core.calendar import end_of_day
from hmis_portal.core.dates import day_text, deadline_text, moment_text

LA = ZoneInfo("America/Los_Angeles")
UTC = dt.UTC


@pytest.fixture(autouse=True)
def in_2026():
    with time_machine.travel(dt.datetime(2026, 6, 1, 12, tzinfo=LA), tick=False):
        yield


def test_a_deadline_is_worded_one_way():
    assert deadline_text(dt.date(2026, 11, 25)) == "Due by end of Wed, Nov 25"


def test_a_moment_is_local_time():
    assert moment_text(dt.datetime(2026, 11, 24, 23, 40, tzinfo=UTC)) == "3:40 PM Tue, Nov 24"


def test_eleven_pm_in_los_angeles_is_that_day_not_the_utc_one():
    eleven_pm = dt.datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 11 PM Tue Nov 24 in Los Angeles
    assert moment_text(eleven_pm) == "11:00 PM Tue, Nov 24"
    assert day_text(eleven_pm) == "Tue, Nov 24"
    assert deadline_text(eleven_pm) == "Due by 11:00 PM Tue, Nov 24"


def test_a_deadline_stored_as_the_end_of_a_day_reads_as_that_day():
    assert deadline_text(end_of_day(dt.date(2026, 11, 25))) == "Due by end of Wed, Nov 25"


def test_spring_forward():
    # Sun Mar 8 2026: 2 AM PST becomes 3 AM PDT.
    assert moment_text(dt.datetime(2026, 3, 8, 9, 30, tzinfo=UTC)) == "1:30 AM Sun, Mar 8"
    assert moment_text(dt.datetime(2026, 3, 8, 10, 30, tzinfo=UTC)) == "3:30 AM Sun, Mar 8"
    assert moment_text(dt.datetime(2026, 3, 9, 6, 59, tzinfo=UTC)) == "11:59 PM Sun, Mar 8"
    assert deadline_text(end_of_day(dt.date(2026, 3, 7))) == "Due by end of Sat, Mar 7"
    assert deadline_text(end_of_day(dt.date(2026, 3, 8))) == "Due by end of Sun, Mar 8"


def test_fall_back():
    # Sun Nov 1 2026: 2 AM PDT becomes 1 AM PST, so 1:30 AM happens twice.
    assert moment_text(dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)) == "1:30 AM Sun, Nov 1"
    assert moment_text(dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC)) == "1:30 AM Sun, Nov 1"
    assert moment_text(dt.datetime(2026, 11, 2, 7, 59, tzinfo=UTC)) == "11:59 PM Sun, Nov 1"
    assert deadline_text(end_of_day(dt.date(2026, 11, 1))) == "Due by end of Sun, Nov 1"


def test_noon_and_midnight():
    assert moment_text(dt.datetime(2026, 7, 4, 12, 5, tzinfo=LA)) == "12:05 PM Sat, Jul 4"
    assert moment_text(dt.datetime(2026, 7, 4, 0, 5, tzinfo=LA)) == "12:05 AM Sat, Jul 4"


def test_another_year_is_named():
    assert deadline_text(dt.date(2027, 1, 4)) == "Due by end of Mon, Jan 4, 2027"
    assert moment_text(dt.datetime(2025, 12, 31, 23, 0, tzinfo=LA)) == "11:00 PM Wed, Dec 31, 2025"


def test_template_filters_need_no_load_and_leave_blanks_blank():
    rendered = Template("{{ d|deadline }}|{{ m|moment }}|{{ m|day }}|{{ none|deadline }}|{{ d|deadline_before }}").render(
        Context({"d": dt.date(2026, 11, 25), "m": dt.datetime(2026, 11, 25, 7, tzinfo=UTC), "none": None}))
    assert rendered == "Due by end of Wed, Nov 25|11:00 PM Tue, Nov 24|Tue, Nov 24||Due by end of Tue, Nov 24"
