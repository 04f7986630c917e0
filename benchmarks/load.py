"""Pages under load: gunicorn with DEBUG off on PostgreSQL and Redis, on loopback only.

    DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.load [--seconds 5] [--rounds 3] [--agency N]
                                                                    [--pages TEXT]

Makes a throw-away database (<name>_load) beside DATABASE_URL's, migrates it,
loads the demo data and signs in the demo personas (their sessions verified
with a second factor, as CoC staff must be). It serves the portal with
gunicorn (2 workers, production settings, its cache and sessions in a Redis
database of its own, `BENCH_REDIS_URL`, flushed before and after) on 127.0.0.1
and loads it with `wrk` (Debian's package: a C load generator, 2 threads and
8 connections, so the clients are not Python threads competing with the
server's interpreter). Each round visits every page in turn, so a page and
its reference meet the same machine; the figures are medians over the rounds.

The reference is a bare signed-in view (`benchmarks._reference`): the whole
middleware stack, the person read, nothing else. Each page's ratio is its
requests per second over the reference's. Every response must be a 200: any
other status, or a socket error, is counted, printed, and makes the exit
status 1. Everything it starts it stops, and the database is dropped.

`--agency N` grows the Program Manager's agency first (N HMIS accounts and
their people, N/10 programs, 10·N referrals, straight into the tables), so the
home page is measured at a large agency's size as well as the demo's.
"""

import argparse
import contextlib
import http.client
import os
import json
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# The reference page: every page is measured against it (benchmarks._reference).
REFERENCE = ("bare signed-in view (reference)", "manager@northside.example.org", "/benchmark/signed-in/")
# (label, persona email, path, the least share of the reference's requests per second it should reach).
PAGES = [
    ("home, Program Manager", "manager@northside.example.org", "/", 0.5),
    ("CES counts report", "matcher@example.org", "/referrals/", 0.5),
    ("CES Participation Status List", "manager@harbor.example.org", "/onboarding/participation-status/", 0.5),
    ("password change form", "manager@harbor.example.org", "/accounts/password_change/", None),
    ("provisioning queue", "provisioning@example.org", "/provisioning/", None),
    ("HMIS accounts (inactivity)", "provisioning@example.org", "/hmis-accounts/", None),
]

# wrk's script: the session cookie (and the CSRF cookie, when the person's
# pages gave one), every status other than 200 counted, and
# one JSON line of figures at the end (wrk's threads each have their own Lua state).
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  wrk.headers["Cookie"] = "sessionid=" .. args[1] .. (args[2] and ("; csrftoken=" .. args[2]) or "")
  not_ok = 0
end
function response(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
function done(summary, latency, requests)
  local not_ok_total = 0
  for _, thread in ipairs(threads) do not_ok_total = not_ok_total + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "not_200": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, not_ok_total, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""

SIGN_IN = """
import sys
from benchmarks._signin import signed_in_client
for email in sys.argv[1:]:
    print(email, signed_in_client(email, "Load test").session.session_key)
"""


GROW = """
import datetime as dt, sys
from django.utils import timezone
from accounts.models import Membership, User
from hmis_access.models import HMISAccount
from onboarding.models import Program, ProgramType
from referrals.models import NeedStatus, Referral
email, n = sys.argv[1], int(sys.argv[2])
organization = Membership.objects.filter(user__email=email, persona="program_manager").first().organization
now, today = timezone.now(), timezone.localdate()
users = User.objects.bulk_create([User(email=f"load{i}@example.org", full_name=f"Load Person {i}", password="!")
                                  for i in range(n)])
Membership.objects.bulk_create([Membership(user=u, organization=organization, persona="staff") for u in users])
HMISAccount.objects.bulk_create([HMISAccount(
    user=u, organization=organization, hmis_username=f"load{i}", hmis_role="CES_Standard",
    status="inactive" if i % 100 >= 30 else "active", provisioned_at=now - dt.timedelta(days=400),
    last_hmis_login_at=now - dt.timedelta(days=i % 100), inactivity_counted_from=today - dt.timedelta(days=i % 100),
    retraining_counted_from=today - dt.timedelta(days=i % 100), retraining_required=i % 100 >= 90,
    calendar_token=f"load{i}") for i, u in enumerate(users)])
housing = ProgramType.objects.get(code="permanent-housing")
programs = Program.objects.bulk_create([Program(
    organization=organization, name=f"Load program {i}", program_type=housing,
    setup_status=Program.SetupStatus.CONFIRMED if i % 3 else Program.SetupStatus.SETUP_COMPLETE)
    for i in range(max(1, n // 10))])
initial = NeedStatus.objects.get(is_initial=True)
Referral.objects.bulk_create([Referral(
    program=programs[i % len(programs)], hmis_client_id=f"L{i}", contact_name="Client", status=initial,
    is_open=i % 3 == 0, due_at=now - dt.timedelta(days=1) if i % 2 else now + dt.timedelta(days=2))
    for i in range(10 * n)], batch_size=5000)
print(organization, n)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _psql(base: str, sql: str) -> None:
    parts = urlsplit(base)
    subprocess.run(["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
                    "-U", parts.username or "postgres", "-d", "postgres", "-q", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _manage(env, *args, stdin=None) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, input=stdin, text=True,
                            capture_output=True, timeout=900)
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def _wrk(port: int, path: str, cookies: list[str], *, seconds: float, script: Path) -> dict:
    result = subprocess.run(
        ["wrk", "--threads", "2", "--connections", "8", "--duration", f"{seconds:.0f}s", "--timeout", "10s",
         "--script", str(script), f"http://127.0.0.1:{port}{path}", "--", *cookies],
        capture_output=True, text=True, timeout=seconds + 60, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return {"rps": figures["requests"] / (figures["duration_us"] / 1e6), "p50": figures["p50_us"] / 1000,
            "p99": figures["p99_us"] / 1000, "errors": figures["not_200"] + figures["socket_errors"]}


def _check(port: int, path: str, session: str) -> str:
    """The CSRF cookie the page sets, if any ("" else). A page that does not
    answer 200 (a sign-in redirect, an error) would be measured as something else."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Cookie": f"sessionid={session}", "Host": "127.0.0.1"})
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status != 200:
        raise SystemExit(f"benchmarks.load: {path} answered {response.status}, not 200")
    cookies = SimpleCookie()
    for header in response.msg.get_all("Set-Cookie") or ():
        cookies.load(header)
    return cookies["csrftoken"].value if "csrftoken" in cookies else ""


def _redis_db(url: str, command: str) -> None:
    parts = urlsplit(url)
    subprocess.run(["redis-cli", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
                    "-n", parts.path.lstrip("/") or "0", command], check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def demo_database(base: str, name: str, env: dict, redis_url: str):
    """The throw-away database `name` on `base`'s server, migrated and loaded
    with the demo, its static files collected, and the Redis database at
    `redis_url` empty; the database dropped and Redis emptied after, whatever
    happened."""
    _psql(base, f'DROP DATABASE IF EXISTS "{name}"')
    _psql(base, f'CREATE DATABASE "{name}"')
    _redis_db(redis_url, "FLUSHDB")
    try:
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "seed_demo", "--i-know-this-is-not-production")
        _manage(env, "collectstatic", "--noinput", "-v0")
        yield
    finally:
        _psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _redis_db(redis_url, "FLUSHDB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.load")
    parser.add_argument("--seconds", type=float, default=5.0, help="per page and round (bounded: at most 60)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every page (at most 10)")
    parser.add_argument("--agency", type=int, default=0,
                        help="grow the Program Manager's agency to this many HMIS accounts (at most 100000)")
    parser.add_argument("--pages", default="",
                        help="only the pages whose label contains this text (the reference is always measured)")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    seconds, rounds = min(max(args.seconds, 1.0), 60.0), min(max(args.rounds, 1), 10)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("benchmarks.load: set DATABASE_URL to a PostgreSQL server (a throw-away database is made beside it)")
        return 0
    if not shutil.which("wrk"):
        print("benchmarks.load: needs wrk (apt-get install wrk)")
        return 0
    name = f"{urlsplit(base).path.lstrip('/') or 'hmis_portal'}_load"
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    env = {**{k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "DJANGO_SETTINGS_MODULE")},
           "DATABASE_URL": _database_url(base, name), "REDIS_URL": redis_url, "DEBUG": "false",
           "SECRET_KEY": secrets.token_urlsafe(40), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false",
           "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false", "SECURE_HSTS_SECONDS": "0",
           "PORTAL_BASE_URL": "https://portal.example.org"}
    server, failed = None, False
    log = tempfile.TemporaryFile()
    with demo_database(base, name, env, redis_url):
        try:
            if args.agency:
                manager = next(email for label, email, _, _ in PAGES if label.startswith("home"))
                subprocess.run(
                    [PYTHON, "-c", "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                     "'hmis_portal.settings'); django.setup(); exec(sys.stdin.read())", manager,
                     str(min(args.agency, 100_000))],
                    cwd=ROOT, env=env, input=GROW, text=True, capture_output=True, check=True, timeout=600)
            chosen = [page for page in PAGES if args.pages.lower() in page[0].lower()]
            if not chosen:
                raise SystemExit(f"benchmarks.load: no page's label contains {args.pages!r}")
            pages = [(*REFERENCE, None), *chosen]
            emails = sorted({email for _, email, _, _ in pages})
            signed_in = subprocess.run(
                [PYTHON, "-c", "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                 "'hmis_portal.settings'); django.setup(); exec(sys.stdin.read())", *emails],
                cwd=ROOT, env=env, input=SIGN_IN, text=True, capture_output=True, check=True, timeout=120)
            sessions = dict(line.split() for line in signed_in.stdout.splitlines())
            port = _free_port()
            server = subprocess.Popen(
                [str(Path(PYTHON).with_name("gunicorn")), "hmis_portal.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", "2", "--log-level", "warning"], cwd=ROOT,
                env={**env, "DJANGO_SETTINGS_MODULE": "benchmarks._reference"}, start_new_session=True,
                # Its request log is written, as in production, but to a file the benchmark discards.
                stdout=log, stderr=subprocess.STDOUT)
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # A browser keeps the CSRF cookie its first page set and sends it with
            # every page after: without it each page would make a new secret and
            # set the cookie again, as only a person's first page does.
            csrf = {}
            for _, email, path, _ in pages:
                # Also warms each worker's templates and caches.
                csrf[email] = _check(port, path, sessions[email]) or csrf.get(email, "")
            cookies = {email: [sessions[email], *([csrf[email]] if csrf.get(email) else [])] for email in sessions}
            grown = f"; the Program Manager's agency grown to {args.agency:,} HMIS accounts" if args.agency else ""
            print(f"gunicorn, 2 workers, DEBUG off, PostgreSQL and Redis; wrk 2 threads, 8 connections; "
                  f"{rounds} rounds of {seconds:.0f} s per page, interleaved{grown}")
            runs = {label: [] for label, *_ in pages}
            with tempfile.TemporaryDirectory() as folder:
                script = Path(folder) / "count.lua"
                script.write_text(WRK_SCRIPT)
                for _ in range(rounds):
                    for label, email, path, _ in pages:
                        runs[label].append(_wrk(port, path, cookies[email], seconds=seconds, script=script))
            print(f"{'page':32} {'req/s':>7} {'×ref':>6} {'goal':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
            reference = statistics.median(run["rps"] for run in runs[REFERENCE[0]])
            for label, _, _, goal in pages:
                rps = statistics.median(run["rps"] for run in runs[label])
                errors = sum(run["errors"] for run in runs[label])
                failed |= bool(errors)
                ratio = rps / reference
                met = "" if goal is None else f"{'≥' if ratio >= goal else '<'}{goal:.1f}"
                print(f"{label:32} {rps:7.1f} {ratio:6.2f} {met:>6} "
                      f"{statistics.median(run['p50'] for run in runs[label]):8.1f} "
                      f"{statistics.median(run['p99'] for run in runs[label]):8.1f} {errors:7d}", flush=True)
            if failed:
                print("benchmarks.load: some responses were not 200 (the column errors): the figures are not valid")
        finally:
            if server is not None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
            log.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
