"""Calendars read back by a second, independent parser: Mozilla's `ical.js`
(MPL-2.0, pinned in package.json), the one Thunderbird and many web calendar
apps use, run by Node on tests/ical/read.mjs. The portal writes its calendars
with Python's `icalendar`; reading them only with the same library would miss
what that library writes and another app reads differently."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "ical" / "read.mjs"


def read_calendars(*calendars: bytes) -> list[dict]:
    """What ical.js reads in each calendar (see read.mjs for the shape). Node
    runs in UTC, so a time whose zone the calendar does not define reads as
    the wrong moment instead of happening to be right on this machine."""
    texts = [calendar.decode("utf-8") for calendar in calendars]
    result = subprocess.run(["node", str(SCRIPT)], cwd=ROOT, input=json.dumps(texts), capture_output=True,
                            text=True, timeout=60, env={**os.environ, "TZ": "UTC"}, check=False)
    assert result.returncode == 0, f"ical.js could not run: {result.stderr[-2000:]}"
    read = json.loads(result.stdout)
    for calendar in read:
        assert "error" not in calendar, f"ical.js refused the calendar: {calendar['error']}"
    return read


def read_calendar(calendar: bytes) -> dict:
    (read,) = read_calendars(calendar)
    return read
