"""The HMIS login report import end to end: `manage.py import_hmis_logins`
of a CSV report, against its floor, each in a child process of its own.

Creates a scratch PostgreSQL database next to DATABASE_URL's
(<name>_logins_bench), fills it with HMIS accounts as `benchmarks.accounts`
does, writes a login report (CSV) naming every account (most logged in again
since, every tenth with an older login than the one recorded, which must not
move backwards), then runs, --repeat times round by round, each from the same
data put back:

- the portal: `python manage.py import_hmis_logins report.csv --no-progress`
  (Django's start included: it is what an operator runs, from the image,
  whose sources are compiled when it is built: they are compiled here once
  before the passes, so no pass compiles the portal again where the
  environment says not to write bytecode);
- the floor: a bare psycopg2 client that COPYs the file into a temporary table
  and makes the same changes with one `UPDATE … FROM`.

It prints the medians (min-max), the ratio portal / floor, each child's peak
memory (maxrss from `os.wait4`), and whether both leave the accounts exactly
alike (md5 over every account's login columns; the portal's own audit event
of the import is its extra).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hmis .venv/bin/python -m benchmarks.logins [--rows 100000,1000000]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ROWS = [100_000]

FLOOR = r"""
import os, sys, psycopg2
url, path, tz = sys.argv[1], sys.argv[2], sys.argv[3]
connection = psycopg2.connect(url)
with connection, connection.cursor() as cursor, open(path, encoding="utf-8-sig", newline="") as handle:
    cursor.execute("CREATE TEMP TABLE report (hmis_username text, login text) ON COMMIT DROP")
    cursor.copy_expert("COPY report FROM STDIN WITH (FORMAT csv, HEADER true)", handle)
    cursor.execute('''
        UPDATE accounts_hmisaccount a SET last_hmis_login_at = r.login_at,
               inactivity_counted_from = GREATEST(a.inactivity_counted_from, r.login_day),
               retraining_counted_from = GREATEST(a.retraining_counted_from, r.login_day),
               must_log_in_by = CASE WHEN a.reactivated_at IS NULL OR r.login_at >= a.reactivated_at THEN NULL
                                     ELSE a.must_log_in_by END,
               must_log_in_before = CASE WHEN a.reactivated_at IS NULL OR r.login_at >= a.reactivated_at
                                         THEN NULL ELSE a.must_log_in_before END
        FROM (SELECT hmis_username, login::timestamp AT TIME ZONE %s AS login_at,
                     login::timestamp::date AS login_day FROM report) r
        WHERE r.hmis_username = a.hmis_username
          AND (a.last_hmis_login_at IS NULL OR r.login_at > a.last_hmis_login_at)''', [tz])
connection.close()
"""


# A child's peak memory (maxrss) starts from its parent's at the fork, and
# this process holds Django and the report: each child is started by a small
# launcher, whose own children start small, and which tells their maxrss.
LAUNCHER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_pid, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _child(argv, env) -> tuple[float, float, str]:
    """Run a child process: its wall time, its peak memory (MiB), its output."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-c", LAUNCHER, rss.name, *argv], cwd=ROOT, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
        peak = int(rss.read() or 0) / 1024
    if code:
        raise SystemExit(f"{' '.join(map(str, argv[:3]))} failed ({code}):\n{text[-2000:]}")
    return seconds, peak, text.strip()


def _write_report(path: Path, n: int, today) -> None:
    from benchmarks.accounts import _report_logins
    from hmis_portal.core.calendar import coc_timezone

    local = coc_timezone()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("HMIS Username,Last Login Time\n")
        for name, moment in _report_logins(n, today).items():
            handle.write(f"{name},{moment.astimezone(local):%Y-%m-%d %H:%M}\n")


def _compile_portal() -> None:
    """The portal's sources compiled, as the image's build does (Dockerfile):
    with PYTHONDONTWRITEBYTECODE set, as it is there and on the CI machine,
    each command would otherwise compile them again at its start."""
    import compileall
    import re

    compileall.compile_dir(ROOT, quiet=1, workers=0, rx=re.compile(r"/(\.venv|node_modules|\.git)/"))


def _run(n: int, repeat: int, workdir: Path) -> bool:
    from benchmarks.accounts import _fill, _outcome, _reset_database, _restore, _same_as, _spread, _tz
    from hmis_portal.core.calendar import local_date

    print(f"\nMigrating a scratch database and creating {n:,} HMIS accounts…", flush=True)
    _reset_database()
    today = local_date()
    started = time.perf_counter()
    _fill(n, today)
    report = workdir / f"logins-{n}.csv"
    _write_report(report, n, today)
    print(f"  data and a {report.stat().st_size / 2**20:.1f} MiB report created in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    env = dict(os.environ)
    url = env["DATABASE_URL"]
    _compile_portal()
    passes = {
        "floor (COPY, one UPDATE … FROM)": [sys.executable, "-c", FLOOR, url, str(report), _tz()],
        "portal (manage.py import_hmis_logins)": [sys.executable, str(ROOT / "manage.py"), "import_hmis_logins",
                                                  str(report), "--no-progress"],
    }
    seconds = {name: [] for name in passes}
    memory = {name: [] for name in passes}
    outcomes = {name: [] for name in passes}
    said = ""
    for _round in range(repeat):
        for name, argv in passes.items():
            _restore()
            took, rss, text = _child(argv, env)
            seconds[name].append(took)
            memory[name].append(rss)
            outcomes[name].append(_outcome())
            said = text if name.startswith("portal") else said
    floor_name, portal_name = passes
    floor = outcomes[floor_name][0]
    same = _same_as(outcomes, floor)
    print(f"\nLogin report import end to end, {n:,} rows: {said.splitlines()[-1] if said else ''}")
    print(f"  medians of {repeat} interleaved passes, each from the same data (2 cores shared):")
    print(f"  {'run':<40} {'seconds (min-max)':>20} {'peak memory':>12}  same accounts as the floor")
    for name in passes:
        print(f"  {name:<40} {_spread(seconds[name]):>20} {max(memory[name]):>8.0f} MiB  "
              f"{'yes' if same[name] else 'NO'}")
    ratio = statistics.median(seconds[portal_name]) / statistics.median(seconds[floor_name])
    print(f"  ratio portal / floor: {ratio:.2f}x (goal <= 1.5x)   portal peak memory "
          f"{max(memory[portal_name]):.0f} MiB (goal <= 200 MiB at 1,000,000)", flush=True)
    for table, (digest, count) in outcomes[portal_name][0].items():
        print(f"    {table:<24} {count:>10,} rows  md5 {digest}"
              + ("" if floor[table] == (digest, count) else f"   floor: {floor[table]}"))
    return all(same.values())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.logins", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda text: [int(n) for n in text.split(",")], default=None,
                        help="report sizes (= accounts), comma-separated (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved passes of each (medians)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0]
    from benchmarks.accounts import _configure, _drop

    config, scratch = _configure("_logins_bench")
    ok = True
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for n in args.rows or DEFAULT_ROWS:
                ok &= _run(n, max(1, args.repeat), Path(workdir))
    finally:
        if not args.keep:
            _drop(config, scratch)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
