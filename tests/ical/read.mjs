// Reads calendars with Mozilla's ical.js, the parser of Thunderbird and of
// many web calendar apps, independent of the Python library that writes
// them: a JSON list of .ics texts on stdin, a JSON list of what ical.js reads
// on stdout (tests/ical_js.py). A text ical.js refuses is reported, not skipped.
import ICAL from "ical.js";

function time(value) {
  if (!value) return null;
  const zone = value.zone ? value.zone.tzid : null;
  return {
    text: value.toString(),
    isDate: value.isDate,
    zone,
    // The moment in UTC as the calendar's own VTIMEZONE places it (an all-day
    // date has none).
    utc: value.isDate ? null : value.convertToZone(ICAL.Timezone.utcTimezone).toString(),
  };
}

function person(property) {
  if (!property) return null;
  const parameters = {};
  for (const name of ["cn", "role", "partstat", "rsvp"]) {
    const value = property.getParameter(name);
    if (value !== undefined && value !== null) parameters[name] = value;
  }
  return { value: property.getFirstValue(), parameters };
}

function read(text) {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const zones = calendar.getAllSubcomponents("vtimezone").map((zone) => zone.getFirstPropertyValue("tzid"));
  const events = calendar.getAllSubcomponents("vevent").map((component) => {
    const event = new ICAL.Event(component);
    const rrule = component.getFirstPropertyValue("rrule");
    const occurrences = [];
    if (rrule) {
      const expand = event.iterator();
      for (let next = expand.next(); next && occurrences.length < 6; next = expand.next()) {
        occurrences.push(next.toString());
      }
    }
    return {
      uid: event.uid,
      sequence: event.sequence,
      status: component.getFirstPropertyValue("status"),
      summary: event.summary,
      location: event.location,
      description: event.description,
      start: time(event.startDate),
      end: time(event.endDate),
      lastModified: time(component.getFirstPropertyValue("last-modified")),
      organizer: person(component.getFirstProperty("organizer")),
      attendees: component.getAllProperties("attendee").map(person),
      rrule: rrule ? rrule.toString() : null,
      occurrences,
      alarms: component.getAllSubcomponents("valarm").map((alarm) => String(alarm.getFirstPropertyValue("trigger"))),
    };
  });
  return {
    method: calendar.getFirstPropertyValue("method"),
    version: calendar.getFirstPropertyValue("version"),
    prodid: calendar.getFirstPropertyValue("prodid"),
    zones,
    events,
  };
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((text) => {
  try {
    return read(text);
  } catch (error) {
    return { error: String(error) };
  }
});
process.stdout.write(JSON.stringify(results));
