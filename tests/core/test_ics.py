"""The one writer of .ics files: parsed back with icalendar, folded at 75 octets."""

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Calendar

from hmis_portal.core.ics import CalendarEvent, calendar_file

LA = ZoneInfo("America/Los_Angeles")


def lines_of(body: bytes) -> list[bytes]:
    assert body.endswith(b"\r\n")
    return body[:-2].split(b"\r\n")


def assert_folded(body: bytes):
    """RFC 5545 §3.1: no line longer than 75 octets; a continuation line
    starts with one space."""
    lines = lines_of(body)
    assert max(len(line) for line in lines) <= 75
    assert all(not line.startswith(b"\t") for line in lines)
    body.decode("utf-8")  # never folded inside a UTF-8 character


def test_a_long_description_is_folded_and_reads_back_whole(settings):
    settings.PORTAL_NAME = "LA CoC, HMIS Portal"
    description = ("Réunion d'équipe; notes, commas, back\\slashes and a new\nline — " * 6).strip()
    body = calendar_file([CalendarEvent(uid="u-1@example.org", summary="S" * 120, description=description,
                                        start=dt.date(2026, 12, 1))], product="Tests")
    assert_folded(body)
    assert any(line.startswith(b" ") for line in lines_of(body))
    calendar = Calendar.from_ical(body)
    assert str(calendar["PRODID"]) == "-//LA CoC, HMIS Portal//Tests//EN"
    assert str(calendar["VERSION"]) == "2.0"
    (event,) = calendar.events
    assert str(event["DESCRIPTION"]) == description
    assert str(event["SUMMARY"]) == "S" * 120


def test_timed_events_are_written_in_the_coc_zone_with_its_rules():
    starts = dt.datetime(2026, 12, 1, 17, 30, tzinfo=dt.UTC)  # 9:30 a.m. in Los Angeles
    body = calendar_file([CalendarEvent(uid="t@x", summary="HMIS 10", start=starts,
                                        end=starts + dt.timedelta(hours=2), location="Room 4, 2nd floor",
                                        url="https://meet.example.org/hmis-10")], product="Training")
    assert b"DTSTART;TZID=America/Los_Angeles:20261201T093000" in body
    calendar = Calendar.from_ical(body)
    assert [tz.tz_name for tz in calendar.timezones] == ["America/Los_Angeles"]
    assert not calendar.get_missing_tzids()
    (event,) = calendar.events
    assert event.start == starts and event.start.tzinfo.key == "America/Los_Angeles"
    assert event.end == starts + dt.timedelta(hours=2)
    assert str(event["LOCATION"]) == "Room 4, 2nd floor"
    assert str(event["URL"]) == "https://meet.example.org/hmis-10"


def test_an_all_day_event_stays_all_day_with_its_rule_and_alarm():
    body = calendar_file([CalendarEvent(uid="r@x", summary="Log in", start=dt.date(2026, 12, 1),
                                        rrule={"freq": "monthly", "bymonthday": [1, 15]},
                                        alarm_after_start=dt.timedelta(hours=9), transparent=True)],
                         product="Reminders", name="HMIS login reminders", refresh_every=dt.timedelta(hours=12))
    assert b"RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15" in body
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT12H" in body and b"X-PUBLISHED-TTL:PT12H" in body
    calendar = Calendar.from_ical(body)
    assert calendar.calendar_name == "HMIS login reminders"
    assert not calendar.timezones  # nothing timed: no zone needed
    (event,) = calendar.events
    assert event.start == dt.date(2026, 12, 1) and not isinstance(event.start, dt.datetime)
    assert event.end == dt.date(2026, 12, 2)
    assert str(event["TRANSP"]) == "TRANSPARENT"
    (alarm,) = event.walk("VALARM")
    assert alarm.TRIGGER == dt.timedelta(hours=9) and str(alarm["ACTION"]) == "DISPLAY"
