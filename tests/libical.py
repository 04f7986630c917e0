"""Calendars read back by libical, the C library of Evolution and GNOME
Calendar, run by tests/ical/libical_read.py under the system's Python (its
binding, Debian's gir1.2-ical-3.0, is not on PyPI). Beside ical.js
(tests/ical_js.py) it adds what calendar apps check before they apply an
invitation: RFC 5546's restrictions on each METHOD."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "ical" / "libical_read.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def read_calendars(*calendars: bytes) -> list[dict]:
    """What libical reads in each calendar, with `valid` and `errors` from its
    restriction check. TZ is UTC so a zone the calendar does not define reads
    as the wrong moment instead of happening to be right here."""
    texts = [calendar.decode("utf-8") for calendar in calendars]
    result = subprocess.run([SYSTEM_PYTHON, str(SCRIPT)], cwd=ROOT, input=json.dumps(texts), capture_output=True,
                            text=True, timeout=60, env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC"},
                            check=False)
    assert result.returncode == 0, f"libical could not run: {result.stderr[-2000:]}"
    read = json.loads(result.stdout)
    for calendar in read:
        assert "error" not in calendar, calendar["error"]
    return read


def read_calendar(calendar: bytes) -> dict:
    (read,) = read_calendars(calendar)
    return read
