"""Calendar files (.ics, RFC 5545), written by the `icalendar` library so that
escaping, line folding (75 octets, never inside a UTF-8 character) and time
zones are right, and both of the portal's calendars (a training registration,
the HMIS login reminders) are written one way.

Times are written in the CoC's time zone (settings.TIME_ZONE) with its
VTIMEZONE, so a calendar app shows the hour staff scheduled; a `date` makes an
all-day event.

An event that can change (a registration: rescheduled, moved off the
waitlist, cancelled) carries a SEQUENCE that only grows, LAST-MODIFIED and a
STATUS, under a UID that never changes and names the portal's own domain
(`uid`), so a calendar that imported it once replaces it instead of adding a
second one. Sent by mail, a calendar is an iTIP message (RFC 5546): METHOD
REQUEST for a new or changed event, CANCEL for one that is off, with the
ORGANIZER and the ATTENDEE calendar apps require before they apply it. A
download or a feed (METHOD PUBLISH) names no ATTENDEE: RFC 5546 forbids one
there, and calendar apps that check it (libical's, in Evolution and GNOME
Calendar) would otherwise take the file for a broken invitation.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from .calendar import coc_timezone
from .site import portal_domain

if TYPE_CHECKING:
    from icalendar import Event


def uid(name: str) -> str:
    """An event's UID: `name` (unique within the portal) under the portal's
    domain, so two CoCs' portals never write the same UID."""
    return f"{name}@{portal_domain()}"


@dataclass(frozen=True)
class Person:
    """An ORGANIZER or ATTENDEE: a name and an email address."""
    name: str
    email: str


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    summary: str
    # A date: an all-day event (ends on the next day unless `end` says
    # otherwise). A datetime: a timed event, written in the CoC's zone.
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime | None = None
    description: str = ""
    location: str = ""
    url: str = ""
    # RRULE parts as icalendar takes them, e.g. {"freq": "monthly", "bymonthday": [1, 15]}.
    rrule: dict = field(default_factory=dict)
    # A display alarm this long after the start (an all-day event's start is
    # local midnight, so 9 hours is 9 a.m. on the day).
    alarm_after_start: dt.timedelta | None = None
    # Free time: a reminder, not a meeting, so it never blocks the day.
    transparent: bool = False
    # A revision number that only grows, the last change, and CONFIRMED,
    # TENTATIVE (a waitlisted place) or CANCELLED (empty: not written).
    sequence: int = 0
    last_modified: dt.datetime | None = None
    status: str = ""
    # For a mailed invitation (METHOD REQUEST or CANCEL): who is invited, with
    # that person's answer (ACCEPTED, TENTATIVE, DECLINED). The ORGANIZER of
    # every event is the portal's sender (`organizer`).
    attendee: Person | None = None
    attendee_status: str = "ACCEPTED"


def organizer() -> Person:
    """Who organizes every event the portal writes: the address mail goes
    from, alone (a DEFAULT_FROM_EMAIL may read "CoC Training <training@…>"; a
    calendar app compares the ORGANIZER's mailto: with the sender and applies
    nothing it cannot match), named by the name given there or else the
    portal's. RFC 5546 asks for one in PUBLISH as in REQUEST and CANCEL."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return Person(name=name or settings.PORTAL_NAME, email=address)


def _local(value: dt.date | dt.datetime) -> dt.date | dt.datetime:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, coc_timezone())
    return value


def _event(item: CalendarEvent, stamp: dt.datetime, *, method: str) -> "Event":
    from icalendar import Alarm, Event

    event = Event()
    event.add("uid", item.uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", _local(item.start))
    end = item.end
    if end is None and not isinstance(item.start, dt.datetime):
        end = item.start + dt.timedelta(days=1)
    if end is not None:
        event.add("dtend", _local(end))
    event.add("summary", item.summary)
    event.add("sequence", item.sequence)
    if item.last_modified is not None:
        event.add("last-modified", item.last_modified.astimezone(dt.UTC))
    if item.status:
        event.add("status", item.status)
    sender = organizer()
    event.add("organizer", f"mailto:{sender.email}", parameters={"CN": sender.name})
    if item.attendee is not None and method != "PUBLISH":
        event.add("attendee", f"mailto:{item.attendee.email}",
                  parameters={"CN": item.attendee.name, "ROLE": "REQ-PARTICIPANT",
                              "PARTSTAT": item.attendee_status, "RSVP": "FALSE"})
    if item.description:
        event.add("description", item.description)
    if item.location:
        event.add("location", item.location)
    if item.url:
        event.add("url", item.url)
    if item.rrule:
        event.add("rrule", item.rrule)
    if item.transparent:
        event.add("transp", "TRANSPARENT")
    if item.alarm_after_start is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", item.summary)
        alarm.add("trigger", item.alarm_after_start)
        event.add_component(alarm)
    return event


def calendar_file(events: Iterable[CalendarEvent], *, product: str, name: str = "",
                  refresh_every: dt.timedelta | None = None, method: str = "PUBLISH") -> bytes:
    """The .ics bytes of a calendar of `events`. `product` names what made it
    (PRODID); `name` and `refresh_every` are for a feed people subscribe to;
    `method` is PUBLISH for a download or a feed, REQUEST or CANCEL for an
    invitation sent by mail."""
    # Loaded here, where a calendar is written: icalendar's time zone tables
    # take longer to load than the rest of the portal's apps, a cost every
    # process start (a worker, a command-line import) would pay otherwise.
    from icalendar import Calendar, vDuration

    calendar = Calendar()
    calendar.add("prodid", f"-//{settings.PORTAL_NAME}//{product}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    if name:
        calendar.calendar_name = name  # NAME and X-WR-CALNAME
    if refresh_every is not None:
        calendar.add("refresh-interval", refresh_every, parameters={"VALUE": "DURATION"})
        # The same hint for clients that predate RFC 7986.
        calendar.add("x-published-ttl", vDuration(refresh_every))
    stamp = timezone.now().astimezone(dt.UTC)
    timed = []
    for item in events:
        calendar.add_component(_event(item, stamp, method=method))
        timed += [_local(moment).date() for moment in (item.start, item.end) if isinstance(moment, dt.datetime)]
    if timed:
        # The zone's rules for the span the events cover (a year past the
        # last), not the library's default decades of transitions.
        calendar.add_missing_timezones(first_date=min(timed) - dt.timedelta(days=1),
                                       last_date=max(timed) + dt.timedelta(days=366))
    return calendar.to_ical()
