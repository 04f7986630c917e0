"""Reads calendars with libical, the C library behind Evolution and GNOME
Calendar, through its GObject binding (Debian's gir1.2-ical-3.0), run by the
system's Python rather than the project's: a JSON list of .ics texts on stdin,
a JSON list of what libical reads on stdout (tests/libical.py).

Besides parsing, it runs libical's RFC 5546 restriction check, which calendar
apps built on it apply before they act on an invitation: which properties a
REQUEST, CANCEL or PUBLISH must, may and must not carry. libical marks each
breach, and each part it could not parse, with an X-LIC-ERROR property; those
are reported, not skipped."""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as ICal  # noqa: E402

UTC = ICal.Timezone.get_utc_timezone()


def errors(component):
    found = []
    prop = component.get_first_property(ICal.PropertyKind.XLICERROR_PROPERTY)
    while prop is not None:
        found.append(prop.get_xlicerror())
        prop = component.get_next_property(ICal.PropertyKind.XLICERROR_PROPERTY)
    inner = component.get_first_component(ICal.ComponentKind.ANY_COMPONENT)
    while inner is not None:
        found += errors(inner)
        inner = component.get_next_component(ICal.ComponentKind.ANY_COMPONENT)
    return found


def moment(calendar, event, kind):
    prop = event.get_first_property(kind)
    if prop is None:
        return None
    value = prop.get_dtstart() if kind == ICal.PropertyKind.DTSTART_PROPERTY else prop.get_dtend()
    if value.is_date():
        return {"text": value.as_ical_string(), "isDate": True, "utc": None}
    tzid = prop.get_first_parameter(ICal.ParameterKind.TZID_PARAMETER)
    if tzid is not None:
        # The zone as the calendar's own VTIMEZONE defines it, not the machine's.
        value.set_timezone(calendar.get_timezone(tzid.get_tzid()))
    utc = value.convert_to_zone(UTC)
    return {"text": value.as_ical_string(), "isDate": False, "zone": tzid.get_tzid() if tzid else None,
            "utc": utc.as_ical_string()}


def read(text):
    calendar = ICal.Component.new_from_string(text)
    if calendar is None:
        return {"error": "libical could not parse the calendar"}
    valid = bool(ICal.restriction_check(calendar))
    method = calendar.get_first_property(ICal.PropertyKind.METHOD_PROPERTY)
    events = []
    event = calendar.get_first_component(ICal.ComponentKind.VEVENT_COMPONENT)
    while event is not None:
        status = event.get_first_property(ICal.PropertyKind.STATUS_PROPERTY)
        sequence = event.get_first_property(ICal.PropertyKind.SEQUENCE_PROPERTY)
        organizer = event.get_first_property(ICal.PropertyKind.ORGANIZER_PROPERTY)
        attendees = []
        attendee = event.get_first_property(ICal.PropertyKind.ATTENDEE_PROPERTY)
        while attendee is not None:
            attendees.append(attendee.get_attendee())
            attendee = event.get_next_property(ICal.PropertyKind.ATTENDEE_PROPERTY)
        events.append({
            "uid": event.get_uid(),
            "sequence": sequence.get_sequence() if sequence else None,
            "status": ICal.Property.status_to_string(status.get_status()) if status else None,
            "summary": event.get_summary(),
            "organizer": organizer.get_organizer() if organizer else None,
            "attendees": attendees,
            "start": moment(calendar, event, ICal.PropertyKind.DTSTART_PROPERTY),
            "end": moment(calendar, event, ICal.PropertyKind.DTEND_PROPERTY),
        })
        event = calendar.get_next_component(ICal.ComponentKind.VEVENT_COMPONENT)
    return {"method": ICal.Property.method_to_string(method.get_method()) if method else None,
            "valid": valid, "errors": errors(calendar), "events": events}


if __name__ == "__main__":
    json.dump([read(text) for text in json.load(sys.stdin)], sys.stdout)
