"""Reading the HMIS system's login report (CSV: HMIS username, last login
time), for the admin upload and `manage.py import_hmis_logins`.

The whole file is validated before anything is applied: each bad row is
reported with its line number, and the caller applies nothing unless the
person chose to apply the good rows anyway. Looking up usernames is
set-based (one query per thousand names), never a query per row.
"""

import csv
import datetime as dt
import itertools
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from hmis_portal.core.calendar import coc_timezone

from hmis_access.models import HMISAccount

USERNAME_HEADERS = {"hmis username", "username", "user name", "user", "hmis user name", "login"}
LOGIN_HEADERS = {"last login time", "last login", "last login date", "last login at", "last_login",
                 "last_login_at", "last login date/time", "last login date time"}
DATE_FORMATS = ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S",
                "%m/%d/%y %I:%M %p", "%m/%d/%y %H:%M", "%m/%d/%Y", "%m/%d/%y")
LOOKUP_CHUNK = 900  # under SQLite's bound-parameter limit
# The report comes from another system's clock: a login a few minutes "in
# the future" is clock skew, more than that is a wrong column or date.
FUTURE_SKEW = dt.timedelta(minutes=10)
# The longest cell a login report has any use for (a username is at most
# 150 characters): a longer one means this is not the report.
MAX_FIELD = 1000
USERNAME_MAX = HMISAccount._meta.get_field("hmis_username").max_length
CONTROL = re.compile("[\x00-\x1f]")
UNKNOWN_USERNAME = "No HMIS account has the username “{username}”."


@dataclass(frozen=True)
class BadRow:
    line: int
    username: str
    problem: str


# How much of a report's bad rows is held in memory: past it they wait in a
# temporary file, so a report of a million bad rows costs a file, not memory.
BAD_ROWS_IN_MEMORY = 1 << 20
_COPY_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_COPY_ESCAPED = re.compile(r"\\(.)")


class SpooledBadRows(Sequence):
    """A report's bad rows as PostgreSQL wrote them (COPY's text: line,
    username, problem, in line order) into a temporary file that stays in
    memory up to `BAD_ROWS_IN_MEMORY` bytes and goes to disk past it. Read
    as the list of `BadRow`s the row-by-row reader gives, one at a time."""

    def __init__(self):
        self.file = tempfile.SpooledTemporaryFile(max_size=BAD_ROWS_IN_MEMORY)  # noqa: SIM115 (kept with the report)
        self._count = 0

    def written(self) -> None:
        """COPY has written the rows: count them (one a line) for `len`."""
        self.file.seek(0)
        self._count = sum(chunk.count(b"\n") for chunk in iter(lambda: self.file.read(1 << 16), b""))

    @property
    def on_disk(self) -> bool:
        return self.file._rolled

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[BadRow]:
        self.file.seek(0)
        for raw in self.file:
            line, username, problem = raw.decode().rstrip("\n").split("\t")
            yield BadRow(int(line), _copy_value(username), _copy_value(problem))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(itertools.islice(self, *index.indices(self._count)))
        if not -self._count <= index < self._count:
            raise IndexError(index)
        return next(itertools.islice(self, index % self._count, None))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and all(a == b for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"<{len(self)} bad rows>"


def _copy_value(text: str) -> str:
    return _COPY_ESCAPED.sub(lambda match: _COPY_ESCAPES.get(match[1], match[1]), text) if "\\" in text else text


@dataclass
class LoginReport:
    logins: dict[str, dt.datetime] = field(default_factory=dict)
    # A list from the row-by-row reader; the streaming import's are a
    # `SpooledBadRows`, bounded in memory whatever their number.
    bad_rows: Sequence[BadRow] = field(default_factory=list)
    rows: int = 0
    never_logged_in: int = 0
    # How many logins the report has when they are not held in `logins`
    # (the streaming import keeps them in the database).
    login_count: int | None = None

    @property
    def is_valid(self) -> bool:
        return not self.bad_rows

    def counts(self) -> dict[str, int]:
        """What the import's audit event records of the report."""
        return {"rows": self.rows, "bad_rows": len(self.bad_rows), "never_logged_in": self.never_logged_in,
                "logins": len(self.logins) if self.login_count is None else self.login_count}


def _normalise(header: str) -> str:
    return " ".join(header.strip().lower().replace("_", " ").split())


def parse_login_time(text: str, *, local: dt.tzinfo | None = None) -> dt.datetime:
    """A moment from the report; times without an offset are the CoC's local
    time (`local`: the CoC's time zone, when the caller has it at hand)."""
    text = text.strip()
    moment = None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in DATE_FORMATS:
            try:
                moment = dt.datetime.strptime(text.upper(), fmt)
                break
            except ValueError:
                continue
    if moment is None:
        raise ValueError(f"“{text}” is not a date and time (use e.g. 2026-11-20 14:30 or 11/20/2026 2:30 PM)")
    if moment.tzinfo is None:
        # As timezone.make_aware does with a zoneinfo time zone.
        moment = moment.replace(tzinfo=local or coc_timezone())
    return moment


def read_login_report(lines: Iterable[str], *, now: dt.datetime | None = None,
                      progress: Callable[[int], None] | None = None) -> LoginReport:
    """Validate a whole report. Raises ValidationError when the file itself
    is unusable (no header naming the two columns)."""
    try:
        return _read(lines, now=now or timezone.now(), progress=progress)
    except csv.Error as exc:
        # A cell longer than csv's own limit, a NUL byte, …
        raise ValidationError(f"This is not a CSV login report: {exc}.") from None


def _cells(reader):
    for row in reader:
        if row and max(map(len, row)) > MAX_FIELD:
            raise ValidationError(f"Line {reader.line_num} has a value longer than {MAX_FIELD:,} characters; "
                                  "this is not the HMIS login report. Export the report as CSV again.")
        yield row


def checked_rows(lines, *, now, progress, report: LoginReport):
    """Each row of the report after its header, checked on its own, as it is
    read: (line, username, moment, problem). `moment` is None for a user
    listed without a login; `problem` names what is wrong with a bad row
    (whose username is then as the report shows it). Counts the rows in
    `report`; checking a username against the accounts is the caller's."""
    reader = csv.reader(lines)
    rows = _cells(reader)
    header = None
    for row in rows:
        if any(cell.strip() for cell in row):
            header = [_normalise(cell) for cell in row]
            break
    if header is None:
        raise ValidationError("The file is empty. Upload the HMIS login report as CSV.")
    try:
        username_col = next(i for i, name in enumerate(header) if name in USERNAME_HEADERS)
        login_col = next(i for i, name in enumerate(header) if name in LOGIN_HEADERS)
    except StopIteration:
        raise ValidationError("The first line must name the columns “HMIS username” and “last login time”; "
                              f"this file's first line is: {', '.join(header)[:200]}") from None

    latest, local = now + FUTURE_SKEW, coc_timezone()
    # A report repeats its times (minutes of a few days): each text is read
    # once, within a bound, and its moment or problem reused.
    times: dict[str, tuple[dt.datetime | None, str | None]] = {}
    for row in rows:
        if progress:
            progress(1)
        username = row[username_col].strip() if len(row) > username_col else ""
        login_text = row[login_col].strip() if len(row) > login_col else ""
        if not (username or login_text or "".join(row).strip()):
            continue
        report.rows += 1
        line = reader.line_num
        if not username:
            yield line, "", None, "The HMIS username is empty."
            continue
        if len(username) > USERNAME_MAX:
            yield line, username[:40] + "…", None, f"The HMIS username is longer than {USERNAME_MAX} characters."
            continue
        if CONTROL.search(username) or CONTROL.search(login_text):
            # A NUL or other control character is no username or time (and
            # PostgreSQL refuses NUL in text): a bad row, never a server error.
            yield (line, username.encode("unicode_escape").decode()[:40], None,
                   "The row contains a control character (such as NUL).")
            continue
        if not login_text:
            # Listed but never logged in: nothing to record for this user.
            yield line, username, None, None
            continue
        known = times.get(login_text)
        if known is None:
            if len(times) >= PARSED_TIMES:
                times.clear()
            known = times[login_text] = _checked_time(login_text, latest=latest, local=local)
        moment, problem = known
        yield line, username, moment, problem


# How many distinct login texts a report's reading remembers at once.
PARSED_TIMES = 4096


def _checked_time(text: str, *, latest: dt.datetime, local: dt.tzinfo) -> tuple[dt.datetime | None, str | None]:
    """A login time of the report as (moment, None), or (None, the problem)."""
    try:
        moment = parse_login_time(text, local=local)
    except ValueError as exc:
        return None, str(exc)
    if moment > latest:
        return None, f"The last login {text} is in the future."
    return moment, None


def _read(lines, *, now, progress) -> LoginReport:
    report = LoginReport()
    pending: dict[str, tuple[int, dt.datetime | None]] = {}
    for line, username, moment, problem in checked_rows(lines, now=now, progress=progress, report=report):
        if problem:
            report.bad_rows.append(BadRow(line, username, problem))
            continue
        if moment is None:
            pending.setdefault(username, (line, None))
            continue
        previous = pending.get(username)
        if previous is None or previous[1] is None or moment > previous[1]:
            pending[username] = (line, moment)

    usernames = list(pending)
    known = set()
    for start in range(0, len(usernames), LOOKUP_CHUNK):
        known.update(HMISAccount.objects.filter(hmis_username__in=usernames[start:start + LOOKUP_CHUNK])
                     .values_list("hmis_username", flat=True))
    for username, (line, moment) in pending.items():
        if username not in known:
            report.bad_rows.append(BadRow(line, username, UNKNOWN_USERNAME.format(username=username)))
        elif moment is None:
            report.never_logged_in += 1
        else:
            report.logins[username] = moment
    report.bad_rows.sort(key=lambda bad: bad.line)
    return report
