"""Services for HMIS account activity (seed 002, SPEC §3.5): recording HMIS
logins, reactivation requests and their processing, retraining, and the
user's reminder settings. Every state change here is one function that locks
its row, checks the transition, writes an audit event and queues its
notifications in the same transaction (STYLE §2). The daily sweeps are in
`hmis_accounts.sweep`; the calendar link is at the end.
"""

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from accounts.access import (agency_people, can_provision, can_request_reactivation, is_member, persona_labels,
                             require)
from accounts.access import provisioning_staff as coc_provisioning_staff
from accounts.models import Organization, Persona, User
from hmis_access.models import CALENDAR_TOKEN_FORMAT, AccessPolicy, HMISAccount, new_calendar_token
from hmis_access.provisioning import provisioning_due
from hmis_portal.core import bulk, provisioning, webhooks
from hmis_portal.core.audit import record_event, record_events
from hmis_portal.core.bulk import Sql
from hmis_portal.core.models import AuditEvent
from hmis_portal.core.calendar import coc_timezone, local_date
from hmis_portal.core.dates import deadline_text, moment_text
from hmis_portal.core.outbox import notify
from training.models import Completion

from .logins import PARSED_TIMES, UNKNOWN_USERNAME, LoginReport, SpooledBadRows, checked_rows, read_login_report
from .models import ReactivationRequest

LOGIN_BATCH_SIZE = 1000
# A whole report's batches (statements of the import's one transaction):
# ten times fewer statements than LOGIN_BATCH_SIZE, each still sorting and
# locking only its own accounts, and the progress bar moves with each.
REPORT_BATCH_SIZE = 10_000
# How much of the import's own tables ANALYZE samples (300 rows a unit: 3,000
# rows). The plans ask little of them (how many rows have no login or a
# problem, that a username names one account, the spread of a batch's ids)
# and keep the same joins with it (EXPLAIN ANALYZE, 100,000 rows); the
# default's 30,000 rows were about a quarter of the SQL before the first
# batch. It changes nothing but what ANALYZE reads, in this transaction.
SAMPLED = 10


# ---------------------------------------------------------------- helpers

def agency_administrators(*, organization_id: int) -> list[User]:
    return list(agency_people(organization_id, [Persona.AGENCY_ADMINISTRATOR]))


def provisioning_staff() -> list[User]:
    return list(coc_provisioning_staff())


# The same deadline as a new user's access: within the policy's business days
# or hours of becoming ready (seed 000: "Obtain access in three (3) business
# days"; seed 004: "within 24 – 48" hours).
provisioning_deadline = provisioning_due


def days_since(*, day: dt.date | None, today: dt.date) -> int | None:
    return None if day is None else (today - day).days


def inactive_on(*, account: HMISAccount, policy: AccessPolicy) -> dt.date | None:
    """The local date the sweep makes this Active account Inactive if nobody
    logs in before then (None when already Inactive)."""
    if account.status != HMISAccount.Status.ACTIVE:
        return None
    if account.must_log_in_by is not None:
        return account.must_log_in_by + dt.timedelta(days=1)
    return account.inactivity_counted_from + dt.timedelta(days=policy.inactive_after_days)


def retraining_on(*, account: HMISAccount, policy: AccessPolicy) -> dt.date | None:
    if account.retraining_required:
        return None
    return account.retraining_counted_from + dt.timedelta(days=policy.retraining_after_days)


# ---------------------------------------------------------------- logins

@dataclass
class LoginResult:
    updated: int = 0
    unchanged: int = 0

    def summary(self) -> str:
        return (f"{self.updated} account{pluralize(self.updated)} updated, {self.unchanged} already had that login "
                "or a later one")


def record_hmis_logins(*, logins: Mapping[str, dt.datetime], batch_size: int = LOGIN_BATCH_SIZE,
                       progress: Callable[[int], None] | None = None, actor: User | None = None,
                       report: Mapping[str, int] | None = None) -> LoginResult:
    """Apply `logins` ({HMIS username: last login moment}) in batches.

    Set-based: the logins go into a temporary table (PostgreSQL: COPY), one
    statement matches them to their accounts by username, then each batch of
    matched accounts (a range of ids) is one `UPDATE … FROM` that locks and
    changes them, reading those accounts by id. Idempotent and monotonic: a
    login that is not later than the one recorded changes nothing, so
    re-importing a file (or an older file) never moves a last login
    backwards. Unknown usernames are the caller's to report; they are ignored
    here. Each import is audited: one event by `actor` (None: a scheduled or
    command-line import) with its counts, and the report's from `report`.
    All or nothing: the batches and the audit event commit together.
    """
    postgres = bulk.postgres()
    with connection.cursor() as cursor:
        _create_login_tables(cursor, postgres=postgres)
        try:
            _load_logins(cursor, [(name, at, local_date(at)) for name, at in logins.items()], postgres=postgres)
            # One join of the whole report (the floor's hash join): afterwards
            # every batch reads its accounts by primary key.
            cursor.execute(f"INSERT INTO {MATCHED} (id, login_at, login_day) SELECT a.id, l.login_at, l.login_day "
                           f"FROM {LOGINS} l JOIN {ACCOUNTS} a ON a.hmis_username = l.hmis_username")
            found = cursor.rowcount
            _index_matched(cursor)
            if progress:
                progress(len(logins) - found)  # unknown names: nothing to apply
            result = _apply_matched(cursor, found, batch_size=batch_size, progress=progress, postgres=postgres,
                                    actor=actor, report=report)
        finally:
            _drop_login_tables(cursor)
    return result


def _create_login_tables(cursor, *, postgres: bool) -> None:
    moment = "timestamp with time zone" if postgres else "datetime"
    _drop_login_tables(cursor)
    cursor.execute(f"CREATE TEMPORARY TABLE {LOGINS} (hmis_username varchar(150) NOT NULL, "
                   f"login_at {moment} NOT NULL, login_day date NOT NULL)")
    cursor.execute(f"CREATE TEMPORARY TABLE {MATCHED} (id integer NOT NULL, login_at {moment} NOT NULL, "
                   "login_day date NOT NULL)")


def _index_matched(cursor) -> None:
    """MATCHED's index of account ids, for the batches, built once it is
    filled: one sorted build costs a fraction of keeping it up to date row by
    row (PostgreSQL, 100,000 logins: 17 ms against 55 ms)."""
    cursor.execute(f"CREATE UNIQUE INDEX {MATCHED}_id ON {MATCHED} (id)")


def _drop_login_tables(cursor) -> None:
    for table in (LOGINS, MATCHED, REPORT):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _apply_matched(cursor, found: int, *, batch_size: int, progress, postgres: bool, actor: User | None,
                   report: Mapping[str, int] | None) -> LoginResult:
    """Apply the `found` matched logins (MATCHED: account id, login) in
    batches of ranges of account id, and audit the import: all in one
    transaction, so an import stopped part way (a lost connection, a killed
    process) has changed nothing, and the audit event says what changed.

    Each batch is one statement, its accounts locked in id order and the
    batches in id order, like every other writer that locks more than one
    account: while the import runs, the sweep skips the accounts it holds
    and a person's change to one of them waits until it commits (about 2 s
    for 100,000 logins, benchmarks/logins.py). Batches are statements, not
    transactions of their own: with a commit between each, the same ten
    statements of 10,000 took 2.3-2.8 s, against 1.9-2.3 s in one
    transaction (PostgreSQL, 100,000 logins)."""
    result = LoginResult()
    with transaction.atomic():
        if postgres:
            cursor.execute(f"SET LOCAL default_statistics_target = {SAMPLED}")
            cursor.execute(f"ANALYZE {MATCHED}")
        # Each batch is the next `batch_size` ids after the last batch's,
        # read from MATCHED's index: a batch's bounds cost its own rows,
        # whatever the report's size (account ids are positive).
        after = 0
        while True:
            cursor.execute(f"SELECT max(id), count(*) FROM (SELECT id FROM {MATCHED} WHERE id > %s ORDER BY id "
                           "LIMIT %s) batch", [after, batch_size])
            last, count = cursor.fetchone()
            if not count:
                break
            result.updated += _apply_logins(cursor, after + 1, last, postgres=postgres)
            after = last
            if progress:
                progress(count)
        # Found but not later (a login can only have moved forwards since).
        result.unchanged = found - result.updated
        _audit_login_import(actor=actor, result=result, report=report)
    return result


def _audit_login_import(*, actor, result: LoginResult, report: Mapping[str, int] | None) -> None:
    counts = {**(report or {}), "updated": result.updated, "unchanged": result.unchanged}
    AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None, verb="imported the HMIS login report",
        content_type=ContentType.objects.get_for_model(HMISAccount, for_concrete_model=False), object_id="",
        object_repr="HMIS login report", reason=result.summary(), data=counts)


@dataclass
class LoginImport:
    """What importing a login report did: the report as read (its bad rows by
    line, its counts) and, when it was applied, the result."""
    report: LoginReport
    result: LoginResult | None = None


def hmis_logins_import(*, actor: User | None, lines: Iterable[str], apply_good_rows: bool = False,
                       now: dt.datetime | None = None, reading: Callable[[int], None] | None = None,
                       applying: Callable[[int], Callable[[int], None] | None] | None = None,
                       batch_size: int = REPORT_BATCH_SIZE) -> LoginImport:
    """Import the HMIS login report from `lines` (a text file open with
    `newline=""`, or any iterable of its lines), read once, as it streams.

    All or nothing: if any row is bad, nothing is applied (unless
    `apply_good_rows`); the bad rows come back by line number with the
    problem. Raises ValidationError when the file is not a login report.
    `reading(n)` is told of each n lines read; `applying(total)` may return
    a callable told of each n logins applied.

    PostgreSQL: each row is checked on its own as it is read (the time as
    `logins.parse_login_time` reads it, in the CoC's time zone) and goes by
    COPY straight into a temporary table; the report is never held in
    memory. SQL then does what needs the whole report: a username named
    twice counts its latest login, a username no account has is a bad row,
    and the logins are matched to their accounts once, for the batches of
    `record_hmis_logins`' `UPDATE … FROM`. SQLite: the same checks in Python
    (`logins.read_login_report`), then `record_hmis_logins`."""
    now = now or timezone.now()
    if not bulk.postgres():
        report = read_login_report(lines, now=now, progress=reading)
        if report.bad_rows and not apply_good_rows:
            return LoginImport(report=report)
        progress = applying(len(report.logins)) if applying else None
        return LoginImport(report=report, result=record_hmis_logins(
            logins=report.logins, batch_size=batch_size, progress=progress, actor=actor, report=report.counts()))

    report = LoginReport()
    with connection.cursor() as cursor:
        _create_login_tables(cursor, postgres=True)
        try:
            with transaction.atomic():
                cursor.execute(f"CREATE TEMPORARY TABLE {REPORT} (line integer NOT NULL, hmis_username text NOT NULL, "
                               "login_at timestamp with time zone, login_day date, problem text)")
                rows = _CopyStream(checked_rows(lines, now=now, progress=reading, report=report))
                cursor.cursor.copy_expert(
                    f"COPY {REPORT} (line, hmis_username, login_at, login_day, problem) FROM STDIN", rows,
                    size=COPY_CHUNK)
                if isinstance(rows.error, csv.Error):
                    # A cell longer than csv's own limit, a NUL byte, …
                    raise ValidationError(f"This is not a CSV login report: {rows.error}.")
                if rows.error is not None:
                    raise rows.error
                cursor.execute(f"SET LOCAL default_statistics_target = {SAMPLED}")
                cursor.execute(f"ANALYZE {REPORT}")
                cursor.execute(f"SET LOCAL work_mem = '{MATCHING_MEMORY}'")
                found = _match_report(cursor, report, problems=rows.problems, without_login=rows.without_login)
            if report.bad_rows and not apply_good_rows:
                return LoginImport(report=report)
            progress = applying(found) if applying else None
            result = _apply_matched(cursor, found, batch_size=batch_size, progress=progress, postgres=True,
                                    actor=actor, report=report.counts())
        finally:
            _drop_login_tables(cursor)
    return LoginImport(report=report, result=result)


class _CopyStream(io.TextIOBase):
    """The checked rows as COPY's text (line, username, login, its local
    date, problem), produced as COPY reads them: the file is read once, a
    chunk at a time, and never held whole. Counts the bad rows (`problems`)
    and the good rows without a login (`without_login`) as they go by."""

    def __init__(self, rows):
        self._rows = rows
        self._left = ""
        self._local = coc_timezone()
        # Each moment's columns, written once (a report repeats its times).
        self._logins: dict[dt.datetime, str] = {}
        self.problems = self.without_login = 0
        # What stopped the reading (psycopg2 turns an exception in `read`
        # into a cancelled COPY): the COPY ends there and this is raised.
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def _text(self, row) -> str:
        line, username, moment, problem = row
        if problem:
            self.problems += 1
            return f"{line}\t{_copy_text(username)}\t{NULL}\t{NULL}\t{_copy_text(problem)}\n"
        if moment is None:
            self.without_login += 1
            return f"{line}\t{_copy_text(username)}\t{NULL}\t{NULL}\t{NULL}\n"
        login = self._logins.get(moment)
        if login is None:
            if len(self._logins) >= PARSED_TIMES:
                self._logins.clear()
            # A time without an offset is already the CoC's local time.
            day = moment.date() if moment.tzinfo is self._local else local_date(moment)
            login = self._logins[moment] = f"{moment.isoformat()}\t{day.isoformat()}"
        return f"{line}\t{_copy_text(username)}\t{login}\t{NULL}\n"

    def read(self, size: int = -1) -> str:
        parts, length = [self._left], len(self._left)
        if self.error is None and (size < 0 or length < size):
            try:
                for row in self._rows:
                    text = self._text(row)
                    parts.append(text)
                    length += len(text)
                    if 0 <= size <= length:
                        break
            except Exception as exc:
                # The rows so far end on a whole line: COPY takes them, and
                # the caller raises this, rolling them back.
                self.error = exc
        data = "".join(parts)
        if size < 0:
            self._left = ""
            return data
        self._left = data[size:]
        return data[:size]

    def readline(self, size: int = -1) -> str:
        return self.read(size)


NULL = "\\N"
# How much memory the server may give the matching's sort of the report (the
# latest login of each account) before it sorts on disk: 100,000 rows sort in
# memory, a 1,000,000-row report on disk. The default's 4 MB spills 100,000.
MATCHING_MEMORY = "32MB"
# What COPY asks of the report at a time (characters): fewer, larger
# messages to the server than psycopg2's 8 KiB.
COPY_CHUNK = 1 << 16


def _match_report(cursor, report: LoginReport, *, problems: int, without_login: int) -> int:
    """What needs the whole report, in SQL: fills MATCHED with each known
    account's latest login, adds the unknown usernames to the report's bad
    rows (at the line of that username's latest login, as the Python reader
    names them) and counts the users listed without a login. Returns how
    many accounts were matched. The report is read where each answer needs
    it, never copied into a table of its own first: MATCHED straight from
    the one join of the whole report (the floor's hash join), the users
    without a login from the report's few rows without one, the unknown
    usernames from the rows no account answers. `problems` and
    `without_login` are the reading's counts of its bad rows and of its good
    rows without a login: a question they answer is not asked."""
    cursor.execute(
        f"INSERT INTO {MATCHED} (id, login_at, login_day) SELECT DISTINCT ON (a.id) a.id, r.login_at, r.login_day "
        f"FROM {REPORT} r JOIN {ACCOUNTS} a ON a.hmis_username = r.hmis_username "
        f"WHERE r.problem IS NULL AND r.login_at IS NOT NULL ORDER BY a.id, r.login_at DESC")
    found = cursor.rowcount
    _index_matched(cursor)
    if without_login:
        cursor.execute(
            f"SELECT count(DISTINCT a.id) FROM {REPORT} r JOIN {ACCOUNTS} a ON a.hmis_username = r.hmis_username "
            f"WHERE r.problem IS NULL AND r.login_at IS NULL "
            f"AND NOT EXISTS (SELECT FROM {MATCHED} m WHERE m.id = a.id)")
        report.never_logged_in = cursor.fetchone()[0]
    # The bad rows go from the server straight into a file bounded in memory
    # (`logins.SpooledBadRows`), never a row object each: a report of a
    # million bad rows is named line by line at the cost of a file.
    report.bad_rows = SpooledBadRows()
    # Every good row names an account of its own when the accounts found
    # count them all: then no username is unknown and no row is bad.
    if problems or report.rows - problems != found + report.never_logged_in:
        cursor.cursor.copy_expert(cursor.cursor.mogrify(
            f"COPY (SELECT line, hmis_username, problem FROM {REPORT} WHERE problem IS NOT NULL "
            f"UNION ALL SELECT * FROM (SELECT DISTINCT ON (r.hmis_username) r.line, r.hmis_username, "
            f"%s || r.hmis_username || %s FROM {REPORT} r WHERE r.problem IS NULL "
            f"AND NOT EXISTS (SELECT FROM {ACCOUNTS} a WHERE a.hmis_username = r.hmis_username) "
            f"ORDER BY r.hmis_username, r.login_at DESC NULLS LAST, r.line) unknown ORDER BY 1) TO STDOUT",
            UNKNOWN_USERNAME.split("{username}")).decode(), report.bad_rows.file)
    report.bad_rows.written()
    report.login_count = found
    return found


LOGINS = "hmis_login_import"
MATCHED = "hmis_login_import_matched"
REPORT = "hmis_login_import_report"
ACCOUNTS = HMISAccount._meta.db_table


def _load_logins(cursor, rows, *, postgres: bool) -> None:
    if postgres:
        # COPY: one round trip for the whole report.
        buffer = io.StringIO()
        for name, moment, day in rows:
            buffer.write(f"{_copy_text(name)}\t{moment.isoformat()}\t{day.isoformat()}\n")
        buffer.seek(0)
        cursor.cursor.copy_expert(f"COPY {LOGINS} (hmis_username, login_at, login_day) FROM STDIN", buffer)
        cursor.execute(f"ANALYZE {LOGINS}")
        return
    cursor.executemany(f"INSERT INTO {LOGINS} (hmis_username, login_at, login_day) VALUES (%s, %s, %s)",
                       [(name, bulk.moment(moment), day.isoformat()) for name, moment, day in rows])


def _copy_text(value: str) -> str:
    if not _COPY_SPECIAL.search(value):
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _apply_logins(cursor, first: int, last: int, *, postgres: bool) -> int:
    """One batch (the matched accounts with ids first..last) in one
    statement; returns how many accounts changed. Both tables are read by
    that id range, so a batch costs its own rows whatever the table's size.
    Its accounts are locked in primary-key order (the subquery's FOR UPDATE),
    like every other writer, so an import never deadlocks with a
    reactivation or another import; the sweep skips what the import holds.
    The lock is not what a batch costs: the locking select and its join take
    under a tenth of the statement, and an UPDATE without them is no faster
    (EXPLAIN ANALYZE, 10,000 accounts a batch); the rest is each changed
    account's new entries in the table's ten indexes, which the floor's one
    UPDATE writes too."""
    greatest = "GREATEST" if postgres else "MAX"
    lock = " FOR UPDATE OF a" if postgres else ""
    # As the per-account rule: only a later login changes anything; the
    # clocks run from the later of their date and the login's local date; a
    # login at or after the reactivation meets the window after reactivation.
    cursor.execute(
        f"UPDATE {ACCOUNTS} SET last_hmis_login_at = d.login_at, "
        f"inactivity_counted_from = {greatest}(inactivity_counted_from, d.login_day), "
        f"retraining_counted_from = {greatest}(retraining_counted_from, d.login_day), "
        f"must_log_in_by = CASE WHEN reactivated_at IS NULL OR d.login_at >= reactivated_at THEN NULL "
        f"ELSE must_log_in_by END, "
        f"must_log_in_before = CASE WHEN reactivated_at IS NULL OR d.login_at >= reactivated_at THEN NULL "
        f"ELSE must_log_in_before END "
        f"FROM (SELECT a.id, m.login_at, m.login_day "
        f"FROM {ACCOUNTS} a JOIN {MATCHED} m ON m.id = a.id "
        f"WHERE a.id BETWEEN %s AND %s AND m.id BETWEEN %s AND %s "
        f"AND (a.last_hmis_login_at IS NULL OR m.login_at > a.last_hmis_login_at) "
        f"ORDER BY a.id{lock}) d "
        f"WHERE {ACCOUNTS}.id = d.id",
        [first, last, first, last])
    return cursor.rowcount


# ---------------------------------------------------------------- the account's transitions
# One door each for one account or a set (STYLE §5): a person's action
# passes the `HMISAccount` it holds, the nightly sweep (`hmis_accounts.sweep`)
# the ids of its batch, or the batch itself as a `bulk.Batch` so that the one
# statement that changes the accounts also claims them. Set-based whatever
# their number: one UPDATE, one INSERT … SELECT of the audit events, one of
# the HMIS commands. What the people are told is the caller's (the sweep's
# messages name the date the clock ran from).

ACTIVE, INACTIVE = HMISAccount.Status.ACTIVE, HMISAccount.Status.INACTIVE
ACCOUNT_COLUMNS = ("id", "user_id", "organization_id")
ASSIGNMENTS = HMISAccount.retraining_courses.through._meta.db_table


def _account_ids(accounts) -> "list[int] | bulk.Batch":
    """The set `bulk.change` takes; one account is locked here first (the
    per-row service's lock), so a second submit waits and then finds it moved."""
    if isinstance(accounts, HMISAccount):
        HMISAccount.objects.select_for_update().filter(pk=accounts.pk).values_list("pk").first()
        return [accounts.pk]
    return accounts


def _account_events(ids: list[int], *, actor: User | None, verb: str, from_state: str = "", to_state: str = "",
                    reason: str = "") -> None:
    """One audit event per account, in id order (as `record_events`)."""
    bulk.insert_events(
        source=f"{ACCOUNTS} a", key="a.id", ids=ids,
        content_type=ContentType.objects.get_for_model(HMISAccount, for_concrete_model=False).pk, verb=verb,
        object_repr=Sql("a.hmis_username"), from_state=from_state, to_state=to_state, reason=reason,
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None, ordered=True)


def _agency_accounts_link() -> tuple[str, str]:
    """The agency's HMIS accounts page, around its slug."""
    before, after = reverse("agency-hmis-accounts", kwargs={"slug": "SLUG"}).split("SLUG")
    return before, after


def _tell_systems(ids: list[int], *, event: str, state: str) -> None:
    """The webhook of these accounts' change, one INSERT … SELECT whatever the number."""
    before, after = _agency_accounts_link()
    webhooks.emit_many(
        event=event, source=f"{ACCOUNTS} a JOIN {Organization._meta.db_table} o ON o.id = a.organization_id",
        key="a.id", ids=ids, data=[("id", Sql("a.id")), ("state", state), ("agency_id", Sql("a.organization_id")),
                                   ("link", webhooks.link_sql(before, "o.slug", after))])


def inactive_command_key_prefix(*, at: dt.datetime) -> str:
    """The key of an Inactive decision's `active=false` for the HMIS, before
    the account id: the decision's moment in UTC, so the same decision
    written twice (a sweep run again) queues one command, and a second
    decision the same day (Inactive, reactivated, Inactive again) its own."""
    return f"inactive:{at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ}:"


def hmis_account_make_inactive(*, accounts: "HMISAccount | Iterable[int] | bulk.Batch", reason: str, note: str,
                               at: dt.datetime, actor: User | None = None) -> list[tuple]:
    """Make Active HMIS accounts Inactive (seed 002: no login for the
    inactivity limit, or none in time after a reactivation): one account
    (an `HMISAccount`, locked here and brought up to date), a set of ids
    whose locks the caller holds, or a sweep's `bulk.Batch`.

    The transition, written once for every caller: the status, when and
    why (`reason`, an `HMISAccount.InactiveReason`), the window after a
    reactivation closed; an audit event (`note` its reason); `active=false`
    for the HMIS in the provisioning outbox, delivered after commit, at most
    once per account and decision (`inactive_command_key_prefix`). An account that is not Active is left as it is
    (a double submit, a sweep after a person). Runs in the caller's
    transaction. Returns (id, user id, agency id, then a batch's carried
    columns) of each account made Inactive, sorted by id."""
    one = accounts if isinstance(accounts, HMISAccount) else None
    with transaction.atomic(savepoint=False):
        changed = bulk.change(
            ACCOUNTS, _account_ids(accounts), allowed=Sql("status = %s", (ACTIVE,)),
            changes=Sql("status = %s, inactive_since = %s, inactive_reason = %s, must_log_in_by = NULL, "
                        "must_log_in_before = NULL", (INACTIVE, bulk.moment(at), reason)),
            returning=ACCOUNT_COLUMNS)
        if not changed:
            return []
        ids = [row[0] for row in changed]
        _account_events(ids, actor=actor, verb="made inactive", from_state="Active", to_state="Inactive",
                        reason=note)
        provisioning.provision_many(HMISAccount.objects.filter(pk__in=ids), active=False,
                                    dedupe_prefix=inactive_command_key_prefix(at=at))
        _tell_systems(ids, event="hmis_account.inactive", state=INACTIVE)
        if one is not None:
            one.refresh_from_db(fields=["status", "inactive_since", "inactive_reason", "must_log_in_by",
                                        "must_log_in_before"])
    return changed


def hmis_account_require_retraining(*, accounts: "HMISAccount | Iterable[int] | bulk.Batch", note: str,
                                    at: dt.datetime, policy: AccessPolicy | None = None,
                                    actor: User | None = None) -> list[tuple]:
    """The retraining limit reached (seed 002: no login for 90 days): the
    basic training must be retaken before reactivation. One account, a set
    of ids or a sweep's `bulk.Batch`, as `hmis_account_make_inactive`.

    Written once for every caller: the flag and its local date, an audit
    event (`note` its reason), the policy's retraining courses assigned, and
    a reactivation request that was ready waits for the retraining too. An
    account already required to retrain is left as it is. Runs in the
    caller's transaction. Returns (id, user id, agency id, then a batch's
    carried columns) of each account changed, sorted by id."""
    one = accounts if isinstance(accounts, HMISAccount) else None
    with transaction.atomic(savepoint=False):
        changed = bulk.change(
            ACCOUNTS, _account_ids(accounts), allowed="NOT retraining_required",
            changes=Sql("retraining_required = %s, retraining_required_on = %s", (True, bulk.day(local_date(at)))),
            returning=ACCOUNT_COLUMNS)
        if not changed:
            return []
        ids = [row[0] for row in changed]
        _account_events(ids, actor=actor, verb="retraining required", to_state="Retraining required", reason=note)
        # Account first, then request: the order every writer of both uses.
        ready = list(ReactivationRequest.objects.filter(
            account_id__in=ids, status=ReactivationRequest.Status.READY).order_by("pk").values_list("pk", flat=True))
        if ready:
            reactivation_request_wait_for_retraining(reactivation_requests=ready, actor=actor)
        _assign_retraining(ids, policy or AccessPolicy.current())
        if one is not None:
            one.refresh_from_db(fields=["retraining_required", "retraining_required_on"])
    return changed


def _assign_retraining(ids: list[int], policy: AccessPolicy) -> None:
    """The policy's retraining courses for each account: one delete, one insert."""
    bulk.execute(Sql(f"DELETE FROM {ASSIGNMENTS} WHERE {bulk.among('hmisaccount_id', ids).text}", tuple(ids)))
    courses = list(policy.retraining_courses.order_by("pk").values_list("pk", flat=True))
    if courses:
        table, accounts = bulk.values([(pk,) for pk in courses]), bulk.among("a.id", ids)
        bulk.execute(Sql(f"INSERT INTO {ASSIGNMENTS} (hmisaccount_id, course_id) "
                         f"SELECT a.id, c.column1 FROM {ACCOUNTS} a CROSS JOIN {table.text} c "
                         f"WHERE {accounts.text} ORDER BY a.id, c.column1 ON CONFLICT DO NOTHING",
                         (*table.params, *accounts.params)))


def reactivation_request_wait_for_retraining(*, reactivation_requests: "ReactivationRequest | Iterable[int]",
                                             actor: User | None = None) -> int:
    """A request ready for provisioning waits again, for the retraining its
    account now needs: out of the provisioning queue and its deadline until
    the retraining is recorded. One request or a set of ids; the caller holds
    their accounts' locks. A request no longer ready is left as it is.
    Returns how many requests wait."""
    one = reactivation_requests if isinstance(reactivation_requests, ReactivationRequest) else None
    ids = [one.pk] if one is not None else sorted(reactivation_requests)
    if not ids:
        return 0
    Status = ReactivationRequest.Status
    with transaction.atomic(savepoint=False):
        waiting = list(ReactivationRequest.objects.select_for_update().filter(
            pk__in=ids, status=Status.READY).order_by("pk"))
        if not waiting:
            return 0
        ReactivationRequest.objects.filter(pk__in=[r.pk for r in waiting]).update(
            status=Status.WAITING_FOR_RETRAINING, ready_at=None, provisioning_due_at=None)
        record_events(actor=actor, subjects=waiting, verb="retraining required", from_state=Status.READY.label,
                      to_state=Status.WAITING_FOR_RETRAINING.label)
        if one is not None:
            one.refresh_from_db(fields=["status", "ready_at", "provisioning_due_at"])
    return len(waiting)


# ---------------------------------------------------------------- reactivation

def reactivation_request_create(*, actor: User, account: HMISAccount, note: str = "",
                                at: dt.datetime | None = None) -> ReactivationRequest:
    """The agency administrator (or the user) asks for an Inactive account to
    be made Active again. A second request while one is open returns the
    open one (double submit, or the user and the administrator at once)."""
    at = at or timezone.now()
    require(actor.is_authenticated and can_request_reactivation(actor, account),
            "Only the account's user or the agency's Agency Administrator may request reactivation.")
    policy = AccessPolicy.current()
    with transaction.atomic():
        account = HMISAccount.objects.select_for_update().select_related("user").get(pk=account.pk)
        existing = account.reactivation_requests.filter(status__in=ReactivationRequest.OPEN).first()
        if existing is not None:
            return existing
        if account.status != HMISAccount.Status.INACTIVE:
            raise ValidationError("This HMIS account is Active; there is nothing to reactivate.")
        _require_still_with_agency(account)
        waiting = account.retraining_required
        request = ReactivationRequest(
            account=account, user=account.user, organization_id=account.organization_id, requested_by=actor, requested_at=at, note=note.strip(),
            status=(ReactivationRequest.Status.WAITING_FOR_RETRAINING if waiting
                    else ReactivationRequest.Status.READY),
        )
        if not waiting:
            request.ready_at = at
            request.provisioning_due_at = provisioning_deadline(at)
        request.full_clean()
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            # The one-open-request constraint: someone else's request won.
            return account.reactivation_requests.get(status__in=ReactivationRequest.OPEN)
        record_event(actor=actor, subject=request, verb="requested reactivation", to_state=request.get_status_display(),
                     reason=request.note)
        record_event(actor=actor, subject=account, verb="reactivation requested", reason=request.note)
        link = reverse("hmis-account-status")
        if waiting:
            notify(recipients=[account.user, *agency_administrators(organization_id=account.organization_id)],
                   subject="HMIS reactivation waits for retraining",
                   body=(f"The HMIS account {account.hmis_username} has had no login for "
                         f"{policy.retraining_after_days} days or more, so {policy.retraining_title} must be retaken "
                         "before it can be reactivated. The request goes to provisioning staff as soon as the "
                         "retraining is complete."),
                   link=link)
        else:
            _tell_provisioning_ready(request)
            notify(recipients=[account.user], subject="Reactivation of your HMIS account was requested",
                   body=(f"Provisioning staff will reactivate {account.hmis_username}. "
                         f"{deadline_text(request.provisioning_due_at)}. After reactivation you must log in to HMIS within "
                         f"{policy.reactivation_login_hours} hour{pluralize(policy.reactivation_login_hours)}, or the "
                         "account goes Inactive again."),
                   link=link)
    return request


def _require_still_with_agency(account: HMISAccount) -> None:
    """Reactivation (seed 002) brings back an account that lapsed for want of
    logins. One closed because its holder left the agency, or because the
    agency's agreement is no longer in force, comes back only through a new
    access request, which checks steps 1 to 3 again."""
    if not is_member(account.user, account.organization):
        raise ValidationError(f"{account.user} is no longer with {account.organization}; nothing changed. The "
                              "agency they work for now asks for their HMIS access with a new access request.")
    if account.inactive_reason == HMISAccount.InactiveReason.AGREEMENT_EXPIRED:
        raise ValidationError(f"{account} was made Inactive because {account.organization}'s Organization "
                              "Agreement is no longer in force; nothing changed. Once a new agreement is executed, "
                              "the agency asks for the person's HMIS access with a new access request.")


def _tell_provisioning_ready(request: ReactivationRequest) -> None:
    notify(recipients=provisioning_staff(), subject=f"Reactivate HMIS account {request.account.hmis_username}",
           body=(f"A reactivation request for {request.account.hmis_username} ({request.account.organization}) is "
                 f"ready. {deadline_text(request.provisioning_due_at)}."),
           link=reverse("hmis-accounts-dashboard"))


def hmis_account_record_retraining(*, actor: User, account: HMISAccount, at: dt.datetime | None = None
                                   ) -> HMISAccount:
    """CoC training staff record that the user retook the HMIS Basic Navigation
    Training Series; an open request waiting for it joins the provisioning
    queue with its deadline counted from now."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = HMISAccount.objects.select_for_update().get(pk=account.pk)
        if not locked.retraining_required:
            if account.retraining_required:
                # The caller saw it required: someone recorded it meanwhile.
                raise ValidationError(f"Retraining for {locked.hmis_username} was already recorded; nothing "
                                      "changed.")
            return locked  # never required, or already recorded when the caller read it
        account = locked
        account.retraining_required = False
        account.retraining_required_on = None
        account.retraining_counted_from = max(account.retraining_counted_from, local_date(at))
        account.save(update_fields=["retraining_required", "retraining_required_on", "retraining_counted_from"])
        record_event(actor=actor, subject=account, verb="retraining completed", from_state="Retraining required",
                     to_state="Retrained")
        request = (ReactivationRequest.objects.select_for_update()
                   .filter(account=account, status=ReactivationRequest.Status.WAITING_FOR_RETRAINING).first())
        if request is not None:
            request.status = ReactivationRequest.Status.READY
            request.ready_at = at
            request.provisioning_due_at = provisioning_deadline(at)
            request.save(update_fields=["status", "ready_at", "provisioning_due_at"])
            record_event(actor=actor, subject=request, verb="retraining completed",
                         from_state=ReactivationRequest.Status.WAITING_FOR_RETRAINING.label,
                         to_state=ReactivationRequest.Status.READY.label)
            request.account = account
            _tell_provisioning_ready(request)
    return account


def retraining_progress(*, account: HMISAccount) -> list[tuple]:
    """(course, completed on) for each assigned retraining course; the date is
    None until the user completes it on or after retraining became required."""
    courses = list(account.retraining_courses.all())
    if not courses:
        return []
    since = account.retraining_required_on or dt.date.min
    done = {}
    for course_id, completed_on in Completion.objects.filter(
        user_id=account.user_id, course__in=courses, completed_on__gte=since
    ).values_list("course_id", "completed_on"):
        done[course_id] = max(done.get(course_id, completed_on), completed_on)
    return [(course, done.get(course.pk)) for course in courses]


def retraining_refresh(*, user, actor=None) -> None:
    """Called whenever a training completion is recorded for `user`
    (the named signal `training.signals.training_record_changed`): once every assigned retraining
    course is done, the retraining is recorded and a waiting reactivation
    joins the provisioning queue."""
    account = HMISAccount.objects.filter(user=user, retraining_required=True).first()
    if account is None:
        return
    progress = retraining_progress(account=account)
    if progress and all(completed_on is not None for _, completed_on in progress):
        try:
            hmis_account_record_retraining(actor=actor, account=account)
        except ValidationError:
            pass  # CoC staff recorded it at the same moment: it is recorded


def hmis_account_reactivate(*, actor: User, reactivation_request: ReactivationRequest,
                            at: dt.datetime | None = None) -> ReactivationRequest:
    """Provisioning staff make the account Active again. Under the retraining
    limit directly; over it only once the retraining is recorded (seed 002).
    The user must then log in within the policy's hours, or the nightly sweep
    after the window makes the account Inactive again, and is told so now."""
    require(can_provision(actor), "Only CoC provisioning staff process reactivations.")
    at = at or timezone.now()
    policy = AccessPolicy.current()
    with transaction.atomic():
        # Account first, then request: the same order as every other writer.
        account = HMISAccount.objects.select_for_update(of=("self",)).get(pk=reactivation_request.account_id)
        request = ReactivationRequest.objects.select_for_update(of=("self",)).get(pk=reactivation_request.pk)
        if request.status == ReactivationRequest.Status.REACTIVATED:
            # A double submit, or two staff at once: the second is told, nothing changes.
            raise ValidationError(f"{account} was already reactivated by {request.provisioned_by or 'another staff member'} "
                                  f"at {moment_text(request.provisioned_at)}; nothing changed.")
        if request.status != ReactivationRequest.Status.READY:
            raise ValidationError(f"This request is {request.get_status_display().lower()}; only a request ready "
                                  "for provisioning can be reactivated.")
        if account.retraining_required:
            raise ValidationError(f"The user must retake {policy.retraining_title} before reactivation (no login "
                                  f"for {policy.retraining_after_days} days or more).")
        if account.status != HMISAccount.Status.INACTIVE:
            raise ValidationError("This HMIS account is already Active.")
        _require_still_with_agency(account)
        today = local_date(at)
        # SPEC §3.5: the window is the policy's hours from this moment, so a
        # reactivation at 5:40 PM still leaves the user a fair time to log in.
        must_log_in_before = at + dt.timedelta(hours=policy.reactivation_login_hours)
        account.status = HMISAccount.Status.ACTIVE
        account.reactivated_at = at
        account.must_log_in_before = must_log_in_before
        account.must_log_in_by = local_date(must_log_in_before)
        account.inactivity_counted_from = max(account.inactivity_counted_from, today)
        account.inactive_since = None
        account.inactive_reason = ""
        account.save(update_fields=["status", "reactivated_at", "must_log_in_before", "must_log_in_by",
                                    "inactivity_counted_from", "inactive_since", "inactive_reason"])
        request.status = ReactivationRequest.Status.REACTIVATED
        request.provisioned_by = actor
        request.provisioned_at = at
        request.save(update_fields=["status", "provisioned_by", "provisioned_at"])
        deadline = f"before {moment_text(must_log_in_before)}"
        record_event(actor=actor, subject=account, verb="reactivated", from_state="Inactive", to_state="Active",
                     reason=f"Must log in to HMIS {deadline}.")
        provisioning.provision_active(account_id=account.pk, active=True)
        _tell_systems([account.pk], event="hmis_account.reactivated", state=ACTIVE)
        record_event(actor=actor, subject=request, verb="reactivated",
                     from_state=ReactivationRequest.Status.READY.label,
                     to_state=ReactivationRequest.Status.REACTIVATED.label)
        user = User.objects.get(pk=account.user_id)
        hours = policy.reactivation_login_hours
        notify(recipients=[user, request.requested_by],
               subject="Your HMIS account is Active again — log in to keep it",
               body=(f"The HMIS account {account.hmis_username} has been reactivated. Log in to HMIS {deadline} "
                     f"(within {hours} hour{pluralize(hours)}): if there is no login by then, the account is made "
                     "Inactive again."),
               link=reverse("hmis-account-status"))
    return request


def reactivation_request_decline(*, actor: User, reactivation_request: ReactivationRequest, reason: str,
                                 at: dt.datetime | None = None) -> ReactivationRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the request is declined; the agency sees the reason.")
    require(can_provision(actor), "Only CoC provisioning staff process reactivations.")
    with transaction.atomic():
        # Account first, then request, with no join in the lock: the order
        # every writer of both uses, so a decline and a reactivation at once
        # wait for each other instead of deadlocking.
        HMISAccount.objects.select_for_update(of=("self",)).get(pk=reactivation_request.account_id)
        request = ReactivationRequest.objects.select_for_update(of=("self",)).select_related("account").get(
            pk=reactivation_request.pk)
        if request.status == ReactivationRequest.Status.DECLINED:
            raise ValidationError(f"This request was already declined by {request.declined_by or 'another staff member'}; "
                                  "nothing changed.")
        if not request.is_open:
            raise ValidationError(f"This request is already {request.get_status_display().lower()}.")
        previous = request.get_status_display()
        request.status = ReactivationRequest.Status.DECLINED
        request.declined_by = actor
        request.declined_at = at or timezone.now()
        request.decline_reason = reason
        request.provisioning_due_at = None  # out of the provisioning queue and its deadline sweep
        request.save(update_fields=["status", "declined_by", "declined_at", "decline_reason", "provisioning_due_at"])
        record_event(actor=actor, subject=request, verb="declined", from_state=previous,
                     to_state=request.get_status_display(), reason=reason)
        notify(recipients=[request.requested_by, request.account.user],
               subject=f"Reactivation of {request.account.hmis_username} was declined",
               body=f"Reason: {reason}", link=reverse("hmis-account-status"))
    return request


# ---------------------------------------------------------------- leaving: the agency, or its agreement

def hmis_accounts_deactivate(*, accounts, reason: str, why: str, actor: User | None = None,
                             at: dt.datetime | None = None) -> list[int]:
    """Make the Active accounts among `accounts` (a queryset) Inactive for a
    reason other than logins (`HMISAccount.InactiveReason`: the person left the
    agency, the agency's agreement is no longer in force), through the one
    Inactive transition (`hmis_account_make_inactive`), in the caller's
    transaction: the rows are locked in key order, then changed, audited and
    queued for the HMIS as one set (no HTTP call). Accounts already Inactive
    are left as they are, so a repeat changes nothing. Returns the ids changed.

    Locks are waited for, not skipped: unlike a sweep, nothing would come back
    for an account someone happened to be changing at that moment."""
    with transaction.atomic():
        ids = list(accounts.filter(status=HMISAccount.Status.ACTIVE).select_for_update()
                   .order_by("pk").values_list("pk", flat=True))
        if not ids:
            return []
        changed = hmis_account_make_inactive(
            accounts=ids, reason=reason, note=why, at=at or timezone.now(),
            actor=actor if actor is not None and actor.is_authenticated else None)
    return [row[0] for row in changed]


def hmis_accounts_close_for_departure(*, organization: Organization, person: User, actor: User | None,
                                      at: dt.datetime) -> list[int]:
    """Someone who is no longer with the agency keeps no HMIS access through
    it: their account there goes Inactive (`hmis_accounts_deactivate`, the
    HMIS follows), and the agency's administrators are told by email, queued
    in the departure's transaction and sent after it commits. An account
    already Inactive changes nothing and tells nobody. Returns the ids changed."""
    changed = hmis_accounts_deactivate(
        accounts=HMISAccount.objects.filter(user=person, organization=organization),
        reason=HMISAccount.InactiveReason.MEMBERSHIP_ENDED, actor=actor, at=at,
        why=f"No longer with {organization}.")
    if not changed:
        return changed
    name = person.full_name or person.email
    administrators = agency_administrators(organization_id=organization.pk)
    hmis = " The HMIS is told to disable it too." if provisioning.enabled() else ""
    # Who asks for access again is the CoC's access policy (seed 000: the
    # Program Manager; seed 003: the Authorized Representative).
    requesters = persona_labels(AccessPolicy.current().requester_personas)
    link = reverse("agency-hmis-accounts", kwargs={"slug": organization.slug})
    for username in HMISAccount.objects.filter(pk__in=changed).order_by("pk").values_list("hmis_username", flat=True):
        notify(recipients=administrators, subject=f"HMIS account {username} is now Inactive: {name} left {organization}",
               body=(f"{name} is no longer with {organization}, so their HMIS account {username} is now Inactive."
                     f"{hmis} If they work for {organization} again, the agency's {requesters} can ask for their "
                     "HMIS access again with a new access request."),
               link=link)
    return changed


# ---------------------------------------------------------------- the user's settings

def hmis_account_set_login_reminders(*, actor: User, account: HMISAccount, enabled: bool) -> HMISAccount:
    if account.user_id != actor.pk:
        raise PermissionDenied("Only the account's user chooses their reminders.")
    with transaction.atomic():
        account = HMISAccount.objects.select_for_update().get(pk=account.pk)
        if account.login_reminders == enabled:
            return account
        account.login_reminders = enabled
        account.save(update_fields=["login_reminders"])
        record_event(actor=actor, subject=account, verb="login reminders turned " + ("on" if enabled else "off"))
    return account


# ---------------------------------------------------------------- the calendar link
# The HMIS login calendar's subscription link (`/hmis-account/calendar/<token>.ics`).
# A calendar app polls it without signing in, so its token is the credential:
# it serves only a live account of an active user, and its owner can replace it
# (a link pasted somewhere it should not be) with one that works at once while
# the old one stops at once.

def calendar_feed_account(*, token: str) -> HMISAccount | None:
    """The account whose login calendar `token` opens, or None: for a token
    that is not one we could have issued (checked before any query: a NUL byte
    is an error in PostgreSQL, not a miss), an Inactive account (nothing to
    remind of until it is reactivated) or a deactivated user."""
    if not CALENDAR_TOKEN_FORMAT.fullmatch(token):
        return None
    return (HMISAccount.objects.select_related("user")
            .filter(calendar_token=token, status=HMISAccount.Status.ACTIVE, user__is_active=True)
            .first())


def calendar_link_reset(*, actor: User, account: HMISAccount) -> HMISAccount:
    """Give the account a new calendar token; the old one is dead on commit."""
    if account.user_id != actor.pk:
        raise PermissionDenied("Only the account's user resets their calendar link.")
    with transaction.atomic():
        locked = HMISAccount.objects.select_for_update().get(pk=account.pk)
        if locked.calendar_token != account.calendar_token:
            # Reset since the caller read it (a double click): the link just
            # made is the one to keep, so it is not replaced again.
            raise ValidationError("Your calendar link was just reset; subscribe to the address shown below.")
        account = locked
        account.calendar_token = new_calendar_token()
        account.save(update_fields=["calendar_token"])
        # Never the token itself: the audit trail is read by CoC staff, and
        # the token is a credential.
        record_event(actor=actor, subject=account, verb="calendar link reset")
    return account
