"""The benchmarks' floors stay the portal's equals: each benchmark runs at a
small size and compares what its floor writes with what the portal writes
(md5 over the rows; the counts figure by figure). A change to a sweep, the
login import or the counts page that its floor does not follow fails here,
before anyone reads a ratio measured against a floor that does something else;
and the sweep's deactivations, delivered to a real SCIM server, must leave it
with exactly the portal's active set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
                                reason="the benchmarks measure PostgreSQL")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def migrated(django_db_setup, django_db_blocker) -> str:
    """The name of the tests' migrated template (tests/database.py): each
    benchmark copies it for its scratch database instead of migrating one
    (benchmarks/_scratch.py)."""
    from django.db import connection

    from tests import database

    with django_db_blocker.unblock():
        return database._template_name(connection, database.migrations_key())


def _run(migrated: str, *command: str) -> str:
    done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "BENCHMARK_MIGRATED_DATABASE": migrated})
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_inactivity_sweep_and_login_import_floors_write_the_portals_rows(migrated):
    out = _run(migrated, "benchmarks.accounts", "--accounts", "3000", "--repeat", "1")
    lines = out.splitlines()
    # The floor, the single run and the three split runs of the sweep.
    sweep = [line for line in lines if line.startswith(("  floor (set-based", "  one run", "  split in"))]
    assert len(sweep) == 5 and all(line.rstrip().endswith("yes") for line in sweep), out
    # The import's floor and the portal's import.
    assert sum("same rows as the floor: yes" in line for line in lines) == 2, out
    assert "150 changed" in out, out  # 5% of 3,000 accounts cross a threshold today


def test_login_import_floor_leaves_the_accounts_as_the_command_does(migrated):
    out = _run(migrated, "benchmarks.logins", "--rows", "2000", "--repeat", "1")
    runs = [line for line in out.splitlines() if line.startswith(("  floor (COPY", "  portal (manage.py"))]
    assert len(runs) == 2 and all(line.rstrip().endswith("yes") for line in runs), out
    assert "2000 rows read" in out, out


def test_referral_sweep_and_counts_floors_give_the_pages_figures(migrated):
    out = _run(migrated, "benchmarks.referrals", "--sizes", "3000", "--repeat", "1")
    assert "same changes (md5): yes" in out, out
    # The job split into chunks: here, on one worker and on two.
    split = [line for line in out.splitlines() if line.startswith("  split in")]
    assert len(split) == 3 and all(line.rstrip().endswith("same changes: yes") for line in split), out
    assert "as the floor: yes" in out, out
    assert "NOT USED" not in out, out  # every index serves the query it is kept for


def test_provisioning_sweep_floor_and_delivery_leave_the_hmis_with_the_portals_active_set(migrated):
    out = _run(migrated, "benchmarks.provisioning", "--accounts", "300", "--active", "40", "--repeat", "1")
    lines = out.splitlines()
    sweep = [line for line in lines if line.startswith(("  floor (set-based", "  sweep (batches"))]
    assert len(sweep) == 2 and all(line.rstrip().endswith("same rows as the floor: yes") for line in sweep), out
    assert "300 active=false commands written" in out, out
    assert "300 sent, 0 not" in out, out
    assert "exactly the portal's Active accounts: yes (40 active in the server of 340, 40 Active" in out, out


@pytest.mark.parametrize("clock", ["00:01", "10:59", "23:59"])
def test_the_login_report_holds_no_login_in_the_future_at_any_time_of_day(clock):
    # The import refuses a login in the future: a report of today's 11:00
    # failed the import benchmark whenever it ran before 11:00.
    import datetime as dt

    import time_machine

    from benchmarks.accounts import _report_logins
    from hmis_portal.core.calendar import coc_timezone, local_date

    moment = dt.datetime.combine(dt.date(2026, 12, 6), dt.time.fromisoformat(clock), tzinfo=coc_timezone())
    with time_machine.travel(moment, tick=False):
        logins = _report_logins(50, local_date())
        assert max(logins.values()) <= dt.datetime.now(dt.UTC)


def test_every_person_the_page_benchmarks_sign_in_is_a_demo_login(seeded_demo):
    """The page benchmarks measure the demo's personas by their addresses: one
    the demo no longer has stops `make bench` midway."""
    from accounts.models import User
    from benchmarks import calls, load, pages, status_pages

    named = ({email for _label, email, _path in [*pages.PERSONAS, *calls.DEFAULT_PAGES]}
             | {email for _label, email, *_rest in [load.REFERENCE, *load.PAGES]} | set(status_pages.PERSONAS))
    assert named - set(User.objects.filter(email__in=named).values_list("email", flat=True)) == set()


def test_make_bench_fails_when_a_benchmark_fails(monkeypatch):
    """`python -m benchmarks` (make bench) runs every module and exits 1 when
    any of them exited with a failure, returned or raised."""
    import types

    from benchmarks import __main__ as every

    outcomes = {"returns_none": "None", "returns_zero": "0", "raises_zero": "sys.exit(0)"}
    monkeypatch.setattr(every.pkgutil, "iter_modules", lambda path: [types.SimpleNamespace(name=n) for n in outcomes])
    monkeypatch.setattr(every, "_command", lambda name: [sys.executable, "-c", f"import sys; {outcomes[name]}"])
    assert every.main() == 0
    for failing in ("sys.exit(1)", "raise RuntimeError('the floor wrote other rows')"):
        outcomes["failing"] = failing
        assert every.main() == 1


def test_make_bench_runs_each_benchmark_from_the_environment_it_was_given(monkeypatch):
    """Each benchmark sets up Django for a scratch database of its own and
    points DATABASE_URL at it: run one after another in one process, the
    second found Django set up for the first's database, dropped by then
    (make bench stopped at the second). Each runs in a process of its own."""
    import types

    from benchmarks import __main__ as every

    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/given")
    moves = "import os; os.environ['DATABASE_URL'] += '_scratch'"
    checks = "import os, sys; sys.exit(os.environ['DATABASE_URL'] != 'postgres://postgres@127.0.0.1:5432/given')"
    scripts = {"a_first": moves, "b_second": checks}
    monkeypatch.setattr(every.pkgutil, "iter_modules", lambda path: [types.SimpleNamespace(name=n) for n in scripts])
    monkeypatch.setattr(every, "_command", lambda name: [sys.executable, "-c", scripts[name]])
    assert every.main() == 0
