"""Referrals as HUD's `Event.csv`, with the `Export.csv` that describes it, in
one zip (FY2026 HMIS CSV Format Specifications).

Each referral is one Coordinated Entry Event (HMIS Data Standards 4.20): a
referral to a housing program's opening, whose 4.20.2 Event code is the
referred program's type's (`ProgramType.referral_event`: its own HUD referral
event, or the one its HUD project type, 2.02.6, gives), and, once its need
status is final, the status's 4.20.D referral result and the day it was
reached (4.20.E). The event belongs to the client's Coordinated Entry project
enrollment in the HMIS (EnrollmentID), which the HMIS makes and the CES team
records on the referral: a referral without it is left out of the file and
named, never written under an ID the portal made up. Nothing else about the
client leaves the portal: the HMIS client ID is the PersonalID, and no name
or contact detail is written.

Types, as the specification names them: D is a date `YYYY-MM-DD`, T a date
and time `YYYY-MM-DD hh:mm:ss`, both in the CoC's time zone (the days and
times the referral pages show, never UTC); I an integer; S a string, always
in double quotes, without the characters `< > [ ] { }` the specification
excludes ("HMIS CSV exports must allow for the export of all UTF-8 characters
as entered by users, with the exception of the following: < > [ ] { }").
"""

import io
import re
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from hmis_portal.core import calendar
from hmis_portal.core.exports import safe_cell
from onboarding.models import ProgramType

CSV_VERSION = "2026 v1.3"
SOFTWARE_NAME = "HMIS Portal"
SOFTWARE_VERSION = "0.1.0"
# The portal is not the CoC's HMIS: it is a standalone application (1.9 SourceType 2).
SOURCE_TYPE_STANDALONE = 2
EXPORT_PERIOD_REPORTING_PERIOD = 3  # 1.1
EXPORT_DIRECTIVE_FULL_REFRESH = 2  # 1.2
HASH_STATUS_UNHASHED = 1  # 1.5
# The creator of a referral whose account is gone (Event.csv UserID may not be empty).
NO_USER = "system"

# (column, type, length of a string) in the specification's order and case.
EVENT_COLUMNS = (
    ("EventID", "S", 32), ("EnrollmentID", "S", 32), ("PersonalID", "S", 32), ("EventDate", "D", None),
    ("Event", "I", None), ("ProbSolDivRRResult", "I", None), ("ReferralCaseManageAfter", "I", None),
    ("LocationCrisisOrPHHousing", "S", 250), ("ReferralResult", "I", None), ("ResultDate", "D", None),
    ("DateCreated", "T", None), ("DateUpdated", "T", None), ("UserID", "S", 32), ("DateDeleted", "T", None),
    ("ExportID", "S", 32),
)
EXPORT_COLUMNS = (
    ("ExportID", "S", 32), ("SourceType", "I", None), ("SourceID", "S", 350), ("SourceName", "S", 50),
    ("SourceContactFirst", "S", 50), ("SourceContactLast", "S", 50), ("SourceContactPhone", "S", 10),
    ("SourceContactExtension", "S", 5), ("SourceContactEmail", "S", 320), ("ExportDate", "T", None),
    ("ExportStartDate", "D", None), ("ExportEndDate", "D", None), ("SoftwareName", "S", 50),
    ("SoftwareVersion", "S", 50), ("CSVVersion", "S", 50), ("ExportPeriodType", "I", None),
    ("ExportDirective", "I", None), ("HashStatus", "I", None), ("ImplementationID", "S", 200),
)

_EXCLUDED = re.compile(r"[<>\[\]{}]")
_SPACES = re.compile(r"\s+")


def date_value(day) -> str:
    """Type D."""
    return day.strftime("%Y-%m-%d") if day else ""


def datetime_value(moment) -> str:
    """Type T: the local date and time, to the second, with no offset."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def string_value(value, length: int) -> str:
    text = _SPACES.sub(" ", _EXCLUDED.sub("", str(value or ""))).strip()
    # Typed by people: never a formula when the file is opened in a spreadsheet.
    return safe_cell(text)[:length]


def _line(columns, values) -> str:
    """One line: strings quoted (quotes doubled), integers and dates bare."""
    cells = []
    for (_, kind, length), value in zip(columns, values, strict=True):
        if kind == "S":
            cells.append('"' + string_value(value, length).replace('"', '""') + '"')
        else:
            cells.append("" if value is None else str(value))
    return ",".join(cells) + "\r\n"


def _header(columns) -> str:
    return ",".join(name for name, _, _ in columns) + "\r\n"


@dataclass
class HUDExport:
    content: bytes
    events: int
    start: object
    end: object
    left_out: dict = field(default_factory=dict)  # program type name → referrals without a referral event
    # (referral id, HMIS client id) of the referrals left out for want of the
    # client's CE enrollment ID, oldest first.
    no_enrollment: list = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"hud-csv-events-{self.start:%Y%m%d}-{self.end:%Y%m%d}.zip"


def event_codes() -> dict[int, int]:
    """{program type id: its 4.20.2 referral event} of the program types that
    have one (one small query, read once per file)."""
    return {program_type.pk: program_type.referral_event for program_type in ProgramType.objects.all()
            if program_type.referral_event is not None}


def in_range(referrals, *, start=None, end=None, now=None):
    """(the referrals made from `start` to `end`, start, end): local days,
    both included; without them, from the first referral to today."""
    end = end or calendar.local_date(now or timezone.now())
    referrals = referrals.filter(referred_at__lt=calendar.end_of_day(end))
    if start is None:
        first = referrals.order_by("referred_at").values_list("referred_at", flat=True).first()
        start = calendar.local_date(first) if first else end
    return referrals.filter(referred_at__gte=calendar.start_of_day(start)), start, end


def _contact(user):
    if user is None:
        return "", "", ""
    first, _, last = (user.full_name or "").partition(" ")
    return first, last, user.email


def build(referrals, *, start=None, end=None, user=None, now=None) -> HUDExport:
    """The zip of the referrals made from `start` to `end` (local days, both
    included; without them, from the first referral to today)."""
    now = now or timezone.now()
    referrals, start, end = in_range(referrals, start=start, end=end, now=now)
    codes = event_codes()
    referrals = (referrals.select_related("program__program_type", "status")
                 .annotate(last_change=Max("transitions__made_at"))
                 .order_by("referred_at", "id"))
    export_id = timezone.localtime(now).strftime("%Y%m%d%H%M%S")
    out = io.StringIO()
    out.write(_header(EVENT_COLUMNS))
    events, left_out, no_enrollment = 0, {}, []
    for referral in referrals.iterator(chunk_size=2000):
        program_type = referral.program.program_type
        event = codes.get(program_type.pk)
        if event is None:
            left_out[program_type.name] = left_out.get(program_type.name, 0) + 1
            continue
        if not referral.ce_enrollment_id:
            no_enrollment.append((referral.pk, referral.hmis_client_id))
            continue
        status = referral.status
        final = status.is_final and status.referral_result is not None
        updated = max(m for m in (referral.referred_at, referral.status_entered_at, referral.last_change,
                                  referral.transfer_requested_at) if m)
        out.write(_line(EVENT_COLUMNS, [
            referral.pk,
            referral.ce_enrollment_id,
            referral.hmis_client_id,
            date_value(calendar.local_date(referral.referred_at)),
            event,
            None, None,  # only for Problem Solving (2) and post-placement case management (5) events
            referral.program.name,
            status.referral_result if final else None,
            date_value(calendar.local_date(referral.closed_at or referral.status_entered_at)) if final else "",
            datetime_value(referral.referred_at),
            datetime_value(updated),
            referral.referred_by_id or NO_USER,
            "",  # DateDeleted: referrals are never deleted
            export_id,
        ]))
        events += 1
    first, last, email = _contact(user)
    export = io.StringIO()
    export.write(_header(EXPORT_COLUMNS))
    export.write(_line(EXPORT_COLUMNS, [
        export_id, SOURCE_TYPE_STANDALONE, "", SOFTWARE_NAME, first, last, "", "", email,
        datetime_value(now), date_value(start), date_value(end), SOFTWARE_NAME, SOFTWARE_VERSION, CSV_VERSION,
        EXPORT_PERIOD_REPORTING_PERIOD, EXPORT_DIRECTIVE_FULL_REFRESH, HASH_STATUS_UNHASHED,
        f"{SOFTWARE_NAME} {urlsplit(settings.PORTAL_BASE_URL).netloc or settings.PORTAL_BASE_URL}",
    ]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Event.csv", out.getvalue().encode("utf-8"))
        archive.writestr("Export.csv", export.getvalue().encode("utf-8"))
    return HUDExport(buffer.getvalue(), events, start, end, left_out, no_enrollment)

