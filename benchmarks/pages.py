"""What one signed-in request costs, in process: queries and time per page.

    DATABASE_URL=postgres://.../DB .venv/bin/python -m benchmarks.pages [--requests 50] [--sql]

Makes a throw-away database (<name>_pages) beside DATABASE_URL's, with
production's shared cache in a Redis database of its own (`BENCH_REDIS_URL`,
flushed before and after), migrates it, loads the demo data and collects the static files (DEBUG is off), then
measures in a child process against it, as the load benchmark does; the
database is dropped after (`--here` measures DATABASE_URL's database as it
is: one migrated and loaded with `seed_demo`, STATIC_ROOT collected). It adds
a confirmed authenticator "Pages benchmark" to each persona it signs in. For the minimal signed-in page (the
password change form) and each demo persona's home page it prints the
database round trips of a warm request (the second one) and the mean time of
N requests through django.test.Client with DEBUG off. `--sql` prints each
query too. Rendering the password form through crispy and through the portal's
own field template is timed on its own. Last, the CES Participation Status
List's downloads (CSV and .xlsx, as CoC staff) at `--agencies` agencies (1,000;
each with an agreement, two programs and a CES role, added in a transaction
that is rolled back): their queries, the time of a whole download and the
peak memory Python allocated for one (tracemalloc, measured apart from the timing).
"""

import argparse
import os
import subprocess
import sys
import time
import tracemalloc


PERSONAS = [
    ("minimal signed-in page (agency)", "manager@harbor.example.org", "/accounts/password_change/"),
    ("minimal signed-in page (CoC staff)", "provisioning@example.org", "/accounts/password_change/"),
    ("home, Executive Director", "director@harbor.example.org", "/"),
    ("home, Program Manager", "manager@harbor.example.org", "/"),
    ("home, Program Manager (Northside)", "manager@northside.example.org", "/"),
    ("home, Agency Administrator", "agencyadmin@harbor.example.org", "/"),
    ("home, end user", "staff@harbor.example.org", "/"),
    ("home, housing provider", "housing@oakhollow.example.org", "/"),
    ("home, intake staff", "intake@riverbendoutreach.example.org", "/"),
    ("home, CES team", "matcher@example.org", "/"),
    ("home, CoC provisioning", "provisioning@example.org", "/"),
    ("home, CoC implementation", "implementation@example.org", "/"),
    ("home, CoC training", "trainer@example.org", "/"),
    ("home, system admin", "admin@example.org", "/"),
]


def _client(email):
    from benchmarks._signin import signed_in_client

    return signed_in_client(email, "Pages benchmark")


def _forms(n):
    from django.contrib.auth.forms import PasswordChangeForm
    from django.contrib.auth import get_user_model
    from django.template import engines

    user = get_user_model().objects.get(email="manager@harbor.example.org")
    engine = engines["django"]
    crispy = engine.from_string("{% load crispy_forms_tags %}{{ form|crispy }}")
    plain = engine.from_string('{% include "includes/fields.html" %}')
    figures = {}
    for label, template in (("crispy", crispy), ("includes/fields.html", plain)):
        template.render({"form": PasswordChangeForm(user)})
        start = time.perf_counter()
        for _ in range(n):
            template.render({"form": PasswordChangeForm(user)})
        figures[label] = f"{(time.perf_counter() - start) / n * 1000:.2f} ms"
    return figures


class _Undo(Exception):
    pass


def _grow_agencies(n):
    """`n` agencies more, every other one participating (straight into the tables)."""
    from django.utils import timezone

    from accounts.models import Organization
    from onboarding.models import (CESOrganizationRole, OrganizationAgreement, OrganizationCESRole, Program,
                                   ProgramType)

    now = timezone.now()
    organizations = Organization.objects.bulk_create([
        Organization(name=f"Download Agency {i:05d}", slug=f"download-agency-{i}") for i in range(n)])
    OrganizationAgreement.objects.bulk_create([OrganizationAgreement(
        organization=o, status="executed" if i % 2 else "submitted", countersigned_at=now if i % 2 else None)
        for i, o in enumerate(organizations)])
    kinds = list(ProgramType.objects.all())
    Program.objects.bulk_create([Program(
        organization=o, name=f"Program {j}", program_type=kinds[(i + j) % len(kinds)],
        setup_status="confirmed" if j else "in_progress") for i, o in enumerate(organizations) for j in range(2)])
    roles = list(CESOrganizationRole.objects.all())
    OrganizationCESRole.objects.bulk_create([OrganizationCESRole(organization=o, role=roles[i % len(roles)])
                                             for i, o in enumerate(organizations)])


def _downloads(agencies, requests):
    """Each download's queries and mean time at `agencies` more agencies, as CoC staff."""
    from django.db import connection, transaction

    client = _client("implementation@example.org")
    figures = {}
    try:
        with transaction.atomic():
            _grow_agencies(agencies)
            for label, path in (("csv", "/onboarding/participation-status.csv"),
                                ("xlsx", "/onboarding/participation-status.xlsx")):
                def fetch():
                    response = client.get(path)
                    assert response.status_code == 200, label
                    return response.getvalue() if response.streaming else response.content

                fetch()  # warm
                # Counted at the cursor: each request empties Django's own query log.
                sql = []
                with connection.execute_wrapper(lambda execute, *args: sql.append(args[0]) or execute(*args)):
                    size = len(fetch())
                start = time.perf_counter()
                for _ in range(requests):
                    fetch()
                ms = (time.perf_counter() - start) / requests * 1000
                tracemalloc.start()
                try:
                    fetch()
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                figures[label] = (len(sql), ms, size, peak)
            raise _Undo
    except _Undo:
        pass
    return figures


def _on_a_database_of_its_own(args) -> int:
    from benchmarks.load import ROOT, _database_url, demo_database

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        print("benchmarks.pages: set DATABASE_URL to a PostgreSQL server (a throw-away database is made beside it)")
        return 0
    name = f"{base.rsplit('/', 1)[-1] or 'hmis_portal'}_pages"
    # Production's shared cache (Redis): what a person's pages keep between requests.
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    env = {**os.environ, "DATABASE_URL": _database_url(base, name), "REDIS_URL": redis_url, "DEBUG": "false",
           "SECRET_KEY": "pages-benchmark-only", "ALLOWED_HOSTS": "testserver", "SECURE_SSL_REDIRECT": "false"}
    with demo_database(base, name, env, redis_url):
        child = [sys.executable, "-m", "benchmarks.pages", "--here", "--requests", str(args.requests),
                 "--only", args.only, "--agencies", str(args.agencies)] + (["--sql"] if args.sql else [])
        return subprocess.run(child, cwd=ROOT, env=env, timeout=1800).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.pages")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--only", default="", help="labels containing this text")
    parser.add_argument("--here", action="store_true", help="measure DATABASE_URL's database as it is")
    parser.add_argument("--agencies", type=int, default=1000,
                        help="agencies added for the status list's downloads (0: not measured; at most 100000)")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if not args.here:
        return _on_a_database_of_its_own(args)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECRET_KEY", "pages-benchmark-only")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    print(f"{'page':40} {'queries':>7} {'ms/request':>10}")
    for label, email, path in PERSONAS:
        if args.only not in label:
            continue
        client = _client(email)
        assert client.get(path).status_code == 200, label  # warm
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200, label
        # Read now: the next request empties the log CaptureQueriesContext reads.
        queries = list(captured.captured_queries)
        start = time.perf_counter()
        for _ in range(args.requests):
            client.get(path)
        ms = (time.perf_counter() - start) / args.requests * 1000
        print(f"{label:40} {len(queries):7d} {ms:10.2f}", flush=True)
        if args.sql:
            for query in queries:
                print("    ", query["sql"][:160])
    print("password form rendered alone:", _forms(args.requests * 4))
    agencies = min(max(args.agencies, 0), 100_000)
    if agencies:
        for label, (queries, ms, size, peak) in _downloads(agencies, max(1, args.requests // 10)).items():
            print(f"status list download ({label}) at {agencies:,} more agencies: {queries} queries, "
                  f"{ms:.0f} ms/request, {size:,} bytes, peak {peak / 2**20:.1f} MiB allocated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
