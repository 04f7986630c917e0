"""Pages under load: gunicorn with DEBUG off on PostgreSQL, on loopback only.

    DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.load [--seconds 5] [--clients 4]

Makes a throw-away database (<name>_load) beside DATABASE_URL's, migrates it,
loads the demo data and signs in the demo personas (their sessions verified
with a second factor, as CoC staff must be). It then serves the portal with
gunicorn (2 workers, production settings) on 127.0.0.1 and, page by page,
sends requests from a few client threads for a bounded time. For each page it
prints requests per second, p50 and p99 latency and errors, next to a minimal
signed-in page of the same server (the password change form) as the
baseline. Everything it starts it stops, and the database is dropped.

`--agency N` grows the Program Manager's agency first (N HMIS accounts and
their people, N/10 programs, 10·N referrals, straight into the tables), so the
home page is measured at a large agency's size as well as the demo's.
"""

import argparse
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# (label, persona email, path); the first is the baseline.
PAGES = [
    ("minimal signed-in page", "manager@harbor.example.org", "/accounts/password_change/"),
    ("home, Program Manager", "manager@northside.example.org", "/"),
    ("CES counts report", "matcher@example.org", "/referrals/"),
    ("provisioning queue", "provisioning@example.org", "/provisioning/"),
    ("CES Participation Status List", "manager@harbor.example.org", "/onboarding/participation-status/"),
    ("HMIS accounts (inactivity)", "provisioning@example.org", "/hmis-accounts/"),
]

SIGN_IN = """
import sys
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
for email in sys.argv[1:]:
    user = get_user_model().objects.get(email=email)
    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="Load test", defaults={"confirmed": True})
    session = client.session
    request = RequestFactory().get("/")
    request.session, request.user = session, user
    otp_login(request, device)
    session.save()
    print(email, session.session_key)
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


def _hammer(port: int, path: str, session: str, *, clients: int, seconds: float) -> dict:
    latencies, errors, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Cookie": f"sessionid={session}", "Host": "127.0.0.1"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / seconds,
            "p50": statistics.median(latencies) * 1000 if latencies else 0,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else 0,
            "errors": errors[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.load")
    parser.add_argument("--seconds", type=float, default=5.0, help="per page (bounded: at most 60)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (at most 16)")
    parser.add_argument("--agency", type=int, default=0,
                        help="grow the Program Manager's agency to this many HMIS accounts (at most 100000)")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    seconds, clients = min(args.seconds, 60.0), min(args.clients, 16)
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("benchmarks.load: set DATABASE_URL to a PostgreSQL server (a throw-away database is made beside it)")
        return 0
    name = f"{urlsplit(base).path.lstrip('/') or 'hmis_portal'}_load"
    env = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "EMAIL_URL")},
           "DATABASE_URL": _database_url(base, name), "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(40),
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false",
           "CSRF_COOKIE_SECURE": "false", "SECURE_HSTS_SECONDS": "0"}
    _psql(base, f'DROP DATABASE IF EXISTS "{name}"')
    _psql(base, f'CREATE DATABASE "{name}"')
    server = None
    try:
        _manage(env, "migrate", "--noinput", "-v0")
        _manage(env, "seed_demo", "--i-know-this-is-not-production")
        if args.agency:
            manager = next(email for label, email, _ in PAGES if label.startswith("home"))
            subprocess.run(
                [PYTHON, "-c", "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                 "'hmis_portal.settings'); django.setup(); exec(sys.stdin.read())", manager,
                 str(min(args.agency, 100_000))],
                cwd=ROOT, env=env, input=GROW, text=True, capture_output=True, check=True, timeout=600)
        _manage(env, "collectstatic", "--noinput", "-v0")
        emails = sorted({email for _, email, _ in PAGES})
        signed_in = subprocess.run(
            [PYTHON, "-c", "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
             "'hmis_portal.settings'); django.setup(); exec(sys.stdin.read())", *emails],
            cwd=ROOT, env=env, input=SIGN_IN, text=True, capture_output=True, check=True, timeout=120)
        sessions = dict(line.split() for line in signed_in.stdout.splitlines())
        port = _free_port()
        server = subprocess.Popen(
            [str(Path(PYTHON).with_name("gunicorn")), "hmis_portal.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        grown = f"; the Program Manager's agency grown to {args.agency:,} HMIS accounts" if args.agency else ""
        print(f"gunicorn, 2 workers, DEBUG off, PostgreSQL; {clients} clients, {seconds:.0f} s per page{grown}")
        print(f"{'page':32} {'req/s':>7} {'×base':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        baseline = None
        for label, email, path in PAGES:
            _hammer(port, path, sessions[email], clients=1, seconds=0.5)  # warm the workers
            figures = _hammer(port, path, sessions[email], clients=clients, seconds=seconds)
            baseline = baseline or figures["rps"]
            print(f"{label:32} {figures['rps']:7.1f} {figures['rps'] / baseline:6.2f} {figures['p50']:8.1f} "
                  f"{figures['p99']:8.1f} {figures['errors']:7d}", flush=True)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        _psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
