"""The login report import reads its file once, as it streams (PostgreSQL:
COPY into a temporary table, the report never held in memory), and still
names every bad row by its line, applies nothing when a row is bad, and
finds what the row-by-row reader finds."""

import datetime as dt
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from hmis_access.models import HMISAccount
from hmis_accounts.logins import read_login_report
from hmis_accounts.management.commands import import_hmis_logins as command
from hmis_accounts.services import hmis_logins_import
from hmis_portal.core.models import AuditEvent
from tests.hmis_access.hmis import local, many_accounts

pytestmark = pytest.mark.django_db
OLD = local(dt.date(2026, 10, 1), 9)
NOW = local(dt.date(2026, 11, 20), 12)


class OnceOnly:
    """Lines that can be read once, in order: no seek, no second pass."""

    def __init__(self, text: str):
        self._lines = iter(text.splitlines(keepends=True))
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        assert self.passes == 1, "the report was read a second time"
        return self._lines


class NoSeekFile:
    """A file as `open` gives it, whose reads are counted and which cannot go back."""

    opened: list = []

    def __init__(self, path, *args, **kwargs):
        self._file = open(path, *args, **kwargs)  # noqa: SIM115 (closed by __exit__)
        self.lines_read = 0
        NoSeekFile.opened.append(self)

    def __iter__(self):
        for line in self._file:
            self.lines_read += 1
            yield line

    def seek(self, *args):
        raise AssertionError("the report was read again from the start")

    def fileno(self):
        return self._file.fileno()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def _report(names, *, extra=""):
    return "HMIS username,Last login time\n" + "".join(f"{n},2026-11-10 08:15\n" for n in names) + extra


def _logins():
    return dict(HMISAccount.objects.values_list("hmis_username", "last_hmis_login_at"))


@pytest.fixture
def names():
    names = [f"member{n:05d}" for n in range(3000)]
    many_accounts(dict.fromkeys(names, OLD))
    return names


def test_the_command_reads_the_file_once_without_going_back(tmp_path, names, monkeypatch):
    path = tmp_path / "logins.csv"
    path.write_text(_report(names), encoding="utf-8")
    NoSeekFile.opened = []
    monkeypatch.setattr(command, "open", NoSeekFile, raising=False)
    out = StringIO()
    call_command("import_hmis_logins", str(path), "--no-progress", stdout=out)
    [handle] = NoSeekFile.opened
    assert handle.lines_read == len(names) + 1
    assert "3000 accounts updated" in out.getvalue()
    assert set(_logins().values()) == {local(dt.date(2026, 11, 10), 8, 15)}


def test_a_bad_row_after_thousands_of_good_ones_is_named_and_nothing_changes(names):
    before = _logins()
    lines = OnceOnly(_report(names, extra="member00001,not a date\nnobody.here,2026-11-10 08:15\n"))
    outcome = hmis_logins_import(actor=None, lines=lines, now=NOW)
    assert outcome.result is None
    assert [(bad.line, bad.username, bad.problem) for bad in outcome.report.bad_rows] == [
        (3002, "member00001", "“not a date” is not a date and time (use e.g. 2026-11-20 14:30 or 11/20/2026 2:30 PM)"),
        (3003, "nobody.here", "No HMIS account has the username “nobody.here”.")]
    assert outcome.report.rows == 3002
    assert _logins() == before
    assert not AuditEvent.objects.filter(verb="imported the HMIS login report").exists()


def test_the_good_rows_are_applied_when_chosen_and_audited_with_the_counts(names):
    lines = OnceOnly(_report(names[:10], extra="nobody.here,2026-11-10 08:15\nmember00011,\n"))
    outcome = hmis_logins_import(actor=None, lines=lines, now=NOW, apply_good_rows=True, batch_size=4)
    assert (outcome.result.updated, outcome.result.unchanged) == (10, 0)
    assert [bad.line for bad in outcome.report.bad_rows] == [12]
    event = AuditEvent.objects.get(verb="imported the HMIS login report")
    assert event.data == {"rows": 12, "bad_rows": 1, "never_logged_in": 1, "logins": 10, "updated": 10,
                          "unchanged": 0}


def test_a_file_that_is_not_a_report_half_way_changes_nothing_and_leaves_nothing_behind(names):
    before = _logins()
    with pytest.raises(ValidationError, match="longer than 1,000 characters"):
        hmis_logins_import(actor=None, lines=OnceOnly(_report(names, extra="x" * 5000 + ",2026-11-10\n")), now=NOW)
    assert _logins() == before
    # The next import starts clean.
    outcome = hmis_logins_import(actor=None, lines=OnceOnly(_report(names[:5])), now=NOW)
    assert outcome.result.updated == 5


TRICKY = ("User Name,Other,Last_Login\n"
          "member00000,x,2026-11-10 08:15\n"
          "member00000,x,2026-11-12 08:15\n"     # named twice: the later login counts
          "member00000,x,2026-11-11 08:15\n"
          "member00001,x,\n"                     # listed, never logged in
          "member00002,x,\n"
          "member00002,x,11/12/2026 5:30 PM\n"
          "ghost.one,x,\n"                       # unknown, no login: named at its first line
          "ghost.two,x,2026-11-01 08:00\n"
          "ghost.two,x,2026-11-03 08:00\n"       # unknown: named at its latest login's line
          "\n"
          "member00003,x,2026-11-12T23:30:00-08:00\n"
          "member00004\n"                        # a short row: no login
          "member00005,x,2031-01-01 00:00\n"
          "mem\\ber\tname,x,2026-11-10 08:15\n"   # a control character
          "back\\slash.name,x,2026-11-10 08:15\n"  # unknown, with a backslash
          ",x,2026-11-10 08:15\n"
          + "y" * 151 + ",x,2026-11-10 08:15\n")


def _finds_what_the_row_by_row_reader_finds(text: str) -> None:
    """The streaming import of `text`, good rows applied, names the bad rows,
    counts and applies the logins that the row-by-row reader finds."""
    expected = read_login_report(text.splitlines(), now=NOW)
    outcome = hmis_logins_import(actor=None, lines=OnceOnly(text), now=NOW, apply_good_rows=True)
    assert outcome.report.bad_rows == expected.bad_rows
    assert outcome.report.counts() == expected.counts()
    after = {name: at for name, at in _logins().items() if at != OLD}
    assert after == expected.logins


def test_the_streaming_import_finds_what_the_row_by_row_reader_finds(names):
    _finds_what_the_row_by_row_reader_finds(TRICKY)
    account = HMISAccount.objects.get(hmis_username="member00003")
    assert account.inactivity_counted_from == dt.date(2026, 11, 12)  # the local date, not UTC's


def test_the_command_still_refuses_a_file_with_a_bad_row(tmp_path, names):
    path = tmp_path / "logins.csv"
    path.write_text(_report(names[:3], extra="nobody.here,2026-11-10 08:15\n"), encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row of 4; nothing was applied"):
        call_command("import_hmis_logins", str(path), "--no-progress", stderr=err)
    assert err.getvalue().startswith("line 5: nobody.here: No HMIS account")


def test_the_command_starts_without_the_scim_libraries():
    """An operator's import pays Django's start once per run: the SCIM
    libraries (pydantic models built at import, most of the start's time and
    memory) are loaded by what delivers to the HMIS, not by every command."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = ("import sys, django; django.setup(); "
             "import hmis_accounts.management.commands.import_hmis_logins; "
             "print(sorted(m for m in ('scim2_client', 'scim2_models') if m in sys.modules))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hmis_portal.settings", "DEBUG": "true"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_command_starts_without_what_only_a_request_or_a_delivery_uses():
    """Sealing secrets (cryptography), sending webhooks (httpx2,
    standardwebhooks), the identity provider's sign-in (jwt, requests),
    the API's schema (drf-spectacular's extensions) and writing calendars
    (icalendar, whose time zone tables alone take longer to load than the
    rest of the portal's apps) are loaded where they are used: an import run
    from the command line starts without them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    heavy = ("cryptography", "httpx2", "standardwebhooks", "jwt", "requests", "mozilla_django_oidc",
             "drf_spectacular.extensions", "icalendar")
    probe = ("import sys, django; django.setup(); "
             "import hmis_accounts.management.commands.import_hmis_logins; "
             f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hmis_portal.settings", "DEBUG": "true"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_command_starts_without_collecting_garbage_and_runs_with_the_collector():
    """Start-up makes some 185,000 objects that live as long as the process
    (modules, classes, the apps' registries): the cyclic garbage collector,
    run as they are made, finds next to nothing and costs a fifth of the
    start. A command started by manage.py starts without it; once the portal
    is set up what start-up made is left out of later collections and the
    collector runs again for the command's own work."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = ("import contextlib, gc, io, sys\n"
             "full = []\n"
             "gc.callbacks.append(lambda phase, info: phase == 'start' and full.append(info['generation']))\n"
             "sys.argv = ['manage.py', 'help', 'import_hmis_logins']\n"
             "import manage\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    manage.main()\n"
             "print(len(full), gc.isenabled(), gc.get_freeze_count() > 100_000)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hmis_portal.settings", "DEBUG": "true"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, check=True).stdout
    collections, enabled, frozen = out.strip().splitlines()[-1].split()
    assert int(collections) <= 2, f"{collections} collections while starting"
    assert (enabled, frozen) == ("True", "True")


@pytest.fixture
def small_memory_bound(monkeypatch):
    """Bad rows past 512 bytes go to disk, as a million would past the real bound."""
    from hmis_accounts import logins

    monkeypatch.setattr(logins, "BAD_ROWS_IN_MEMORY", 512)


def _many_bad(names):
    """A report of the good names, then 2,000 unknown names and 500 bad times
    among them: bad rows far past the memory bound."""
    rows = [f"{name},2026-11-10 08:15\n" for name in names]
    for n in range(2500):
        rows.insert(7 + n, f"nobody{n:05d},2026-11-10 08:15\n" if n % 5 else f"{names[n]},not a date {n}\n")
    return "HMIS username,Last login time\n" + "".join(rows)


@pytest.mark.postgres
def test_bad_rows_past_the_memory_bound_wait_on_disk_and_are_all_named_by_line(names, small_memory_bound):
    before = _logins()
    text = _many_bad(names)
    expected = read_login_report(text.splitlines(), now=NOW)
    outcome = hmis_logins_import(actor=None, lines=OnceOnly(text), now=NOW)
    assert outcome.result is None
    assert outcome.report.bad_rows.on_disk
    assert len(outcome.report.bad_rows) == len(expected.bad_rows) == 2500
    assert outcome.report.bad_rows == expected.bad_rows
    assert [bad.line for bad in outcome.report.bad_rows[:3]] == [9, 10, 11]
    assert outcome.report.bad_rows[-1] == expected.bad_rows[-1]
    assert _logins() == before
    assert not AuditEvent.objects.filter(verb="imported the HMIS login report").exists()


def test_the_command_names_every_bad_row_past_the_memory_bound_and_applies_nothing(tmp_path, names,
                                                                                     small_memory_bound):
    before = _logins()
    path = tmp_path / "logins.csv"
    text = _many_bad(names)
    path.write_text(text, encoding="utf-8")
    expected = read_login_report(text.splitlines(), now=NOW)
    err = StringIO()
    with pytest.raises(CommandError, match="2500 bad rows of 5500; nothing was applied"):
        call_command("import_hmis_logins", str(path), "--no-progress", stderr=err)
    assert err.getvalue().splitlines() == [f"line {bad.line}: {bad.username}: {bad.problem}"
                                           for bad in expected.bad_rows]
    assert _logins() == before
    assert not AuditEvent.objects.filter(verb="imported the HMIS login report").exists()


def test_the_good_rows_are_applied_past_the_memory_bound_when_chosen(tmp_path, names, small_memory_bound):
    path = tmp_path / "logins.csv"
    path.write_text(_many_bad(names), encoding="utf-8")
    err, out = StringIO(), StringIO()
    call_command("import_hmis_logins", str(path), "--no-progress", "--apply-good-rows", stdout=out, stderr=err)
    assert len(err.getvalue().splitlines()) == 2500
    # 500 names are also named again with a bad time: that row is skipped, their good one applied.
    assert "5500 rows read: 3000 accounts updated" in out.getvalue()
    assert "2500 bad rows skipped" in out.getvalue()
    assert set(_logins().values()) == {local(dt.date(2026, 11, 10), 8, 15)}


@pytest.mark.parametrize("remembered", [1, 2])
def test_remembering_few_login_times_finds_what_the_row_by_row_reader_finds(names, monkeypatch, remembered):
    from hmis_accounts import logins, services

    monkeypatch.setattr(logins, "PARSED_TIMES", remembered)
    monkeypatch.setattr(services, "PARSED_TIMES", remembered)
    _finds_what_the_row_by_row_reader_finds(
        TRICKY + "".join(f"member{n:05d},x,2026-11-{2 + n % 9:02d} 0{n % 7}:15\n" for n in range(6, 60)))


@pytest.mark.parametrize("text", [
    "HMIS username,Last login time\nmember00000,2026-11-10 08:15\nmember00000,2026-11-12 08:15\n",
    "HMIS username,Last login time\nmember00000,\nmember00000,2026-11-12 08:15\nmember00001,\n",
    "HMIS username,Last login time\nmember00000,2026-11-10 08:15\nghost.one,\n",
    "HMIS username,Last login time\nghost.one,2026-11-10 08:15\nmember00001,\nmember00002,2026-11-10 08:15\n",
    "HMIS username,Last login time\nmember00000,2026-11-10 08:15\nmember00001,\nmember00002,2026-11-10 08:15\n",
], ids=["named-twice", "without-then-with-a-login", "unknown-without-a-login", "unknown-first", "clean"])
def test_a_report_without_a_bad_time_finds_what_the_row_by_row_reader_finds(names, text):
    """The questions of the whole report that the reading's counts answer
    (no row bad, every good row a name of its own) are not asked: each case
    here has no bad time, and either is clean or has what only those
    questions find."""
    _finds_what_the_row_by_row_reader_finds(text)


def test_an_import_stopped_part_way_changes_nothing_and_is_not_audited(names, monkeypatch):
    """All or nothing while applying too: the batches and the audit event
    commit together, so a failure in the second batch (a lost connection, a
    killed process) leaves the first batch's accounts as they were."""
    from hmis_accounts import services

    before = _logins()
    real, calls = services._apply_logins, []

    def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_apply_logins", failing_second)
    with pytest.raises(RuntimeError):
        hmis_logins_import(actor=None, lines=OnceOnly(_report(names)), now=NOW, batch_size=1000)
    assert len(calls) == 2
    assert _logins() == before
    assert not AuditEvent.objects.filter(verb="imported the HMIS login report").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_and_the_sweep_at_once_each_finish_and_the_latest_login_counts(names, policy_rows):
    """Each import holds its accounts until it commits, taking them in id
    order as every other writer does: a second import of the same accounts
    (its report in the other order) waits rather than deadlocks, the sweep
    (50 days after the accounts' last login) passes over what an import
    holds, and each account ends with its latest login, whichever went
    first."""
    from hmis_accounts import sweep as sweeps
    from tests.concurrency import race

    first = "HMIS username,Last login time\n" + "".join(f"{n},2026-11-10 08:15\n" for n in names)
    second = "HMIS username,Last login time\n" + "".join(
        f"{n},2026-11-{11 if i % 2 else 9:02d} 08:15\n" for i, n in enumerate(reversed(names)))
    outcomes = race(lambda: hmis_logins_import(actor=None, lines=OnceOnly(first), now=NOW, batch_size=100),
                    lambda: hmis_logins_import(actor=None, lines=OnceOnly(second), now=NOW, batch_size=100),
                    lambda: sweeps.run_inactivity_sweep(at=NOW, ids=sweeps.account_ranges(1)[0], batch_size=50))
    assert outcomes == ["done"] * 3
    later = {n for i, n in enumerate(reversed(names)) if i % 2}
    assert _logins() == {n: local(dt.date(2026, 11, 11 if n in later else 10), 8, 15) for n in names}
    assert AuditEvent.objects.filter(verb="imported the HMIS login report").count() == 2
