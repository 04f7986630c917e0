"""The HMIS login calendar read by Mozilla's ical.js (tests/ical_js.py), as a
calendar app subscribed to the feed reads it: all-day reminders that repeat on
the CoC's reminder days only, an alarm at 9 a.m., and the last day to log in."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from hmis_access.models import AccessPolicy
from hmis_portal.core.calendar import local_date
from tests.hmis_access.hmis import account_last_login, local
from tests.ical_js import read_calendar

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("days", [[1, 15], [10, 25]])
def test_the_feed_reads_the_same_in_ical_js(settings, days):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(
        login_reminder_days_of_month=",".join(str(day) for day in days))
    policy = AccessPolicy.current()
    account = account_last_login(local(local_date() - dt.timedelta(days=12), 10))
    response = Client().get(reverse("hmis-account-calendar-feed", kwargs={"token": account.calendar_token}))
    calendar = read_calendar(response.content)
    assert calendar["method"] == "PUBLISH"
    reminder, last_day = calendar["events"]

    assert reminder["uid"] == f"hmis-login-reminder-{account.pk}@portal.example.org"
    assert reminder["start"]["isDate"] and reminder["rrule"] == f"FREQ=MONTHLY;BYMONTHDAY={days[0]},{days[1]}"
    # Every occurrence falls on a reminder day the CoC chose, from this month on.
    occurrences = [dt.date.fromisoformat(day) for day in reminder["occurrences"]]
    today = local_date()
    assert len(occurrences) == 6 and all(day.day in days for day in occurrences)
    assert occurrences[0] == today.replace(day=days[0]) and occurrences == sorted(set(occurrences))
    assert reminder["alarms"] == ["PT9H"]

    day = today + dt.timedelta(days=policy.inactive_after_days - 12 - 1)
    assert last_day["uid"] == f"hmis-last-login-day-{account.pk}-{day:%Y%m%d}@portal.example.org"
    assert last_day["start"] == {"text": day.isoformat(), "isDate": True, "zone": "floating", "utc": None}
    assert last_day["end"]["text"] == (day + dt.timedelta(days=1)).isoformat()
    assert last_day["rrule"] is None and last_day["summary"] == "Last day to log in to HMIS"
