"""The daily HMIS account sweep at scale (issue 6).

Creates a scratch PostgreSQL database next to DATABASE_URL's, fills it with
1,000,000 HMIS accounts (users, 1,000 agencies with an agency administrator
each) by set-based inserts (generate_series), about 5% of them crossing a
threshold today (3% reach day 30, 1% day 90, 1% were reactivated yesterday
and never logged in), then reports:

- the sweep (`hmis_access.sweeps.run_inactivity_sweep`: batches of 1,000, row
  locks, one audit event and its outbox messages per changed account): wall
  time, peak Python memory (tracemalloc, in a separate pass because tracing
  slows Python down) and the process's peak RSS;
- the plain SQL statements that make the same changes (three UPDATEs, the
  audit and outbox INSERTs, the retraining assignments), as a floor.

The data is put back between passes, and the passes' results are compared.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hmis .venv/bin/python -m benchmarks.accounts [--accounts N]
"""

import argparse
import os
import resource
import sys
import time
import tracemalloc

ORGANIZATIONS = 1000


def _configure(accounts_db_suffix: str = "_bench"):
    import environ

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("benchmarks.accounts needs PostgreSQL: set DATABASE_URL=postgres://…")
    config = environ.Env.db_url_config(url)
    scratch = f"{config['NAME']}{accounts_db_suffix}"
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", user=config["USER"], password=config["PASSWORD"] or None,
                             host=config["HOST"] or None, port=config["PORT"] or None)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    admin.close()
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + f"/{scratch}"
    # DEBUG off: with it on, Django keeps every SQL statement it runs, which
    # would be measured as the sweep's memory.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + os.urandom(16).hex())
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")
    import django

    django.setup()
    return config, scratch


def _drop(config, scratch):
    import psycopg2
    from django.db import connections

    connections.close_all()
    admin = psycopg2.connect(dbname="postgres", user=config["USER"], password=config["PASSWORD"] or None,
                             host=config["HOST"] or None, port=config["PORT"] or None)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
    admin.close()


def _sql(statement, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.rowcount


def _fill(n: int, today):
    """Set-based: a handful of INSERT … SELECT FROM generate_series."""
    _sql("""INSERT INTO accounts_organization (name, slug, created_at)
            SELECT 'Bench Agency ' || g, 'bench-agency-' || g, now() FROM generate_series(1, %s) g""",
         [ORGANIZATIONS])
    _sql("""INSERT INTO accounts_user (password, is_superuser, email, full_name, is_staff, is_active, date_joined)
            SELECT '!', false, 'bench' || g || '@example.org', 'Bench User ' || g, false, true, now()
            FROM generate_series(1, %s) g""", [n + ORGANIZATIONS])
    # The last ORGANIZATIONS users are each agency's administrator.
    _sql("""INSERT INTO accounts_membership (user_id, organization_id, persona, created_at)
            SELECT u.id, o.id, 'agency_administrator', now()
            FROM accounts_user u JOIN accounts_organization o
              ON o.slug = 'bench-agency-' || (substring(u.email from 'bench(\\d+)@')::int - %s)
            WHERE substring(u.email from 'bench(\\d+)@')::int > %s""", [n, n])
    # r = g % 100: 0-2 reach day 30 today, 3 reaches day 90 (Inactive since
    # day 30), 4 was reactivated yesterday with no login since; the rest
    # logged in 0-28 days ago.
    _sql("""
        WITH g AS (
            SELECT g, g %% 100 AS r,
                   CASE WHEN g %% 100 < 3 THEN 30 WHEN g %% 100 = 3 THEN 90 WHEN g %% 100 = 4 THEN 40
                        ELSE (g %% 100) %% 29 END AS days
            FROM generate_series(1, %(n)s) g
        ), o AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM accounts_organization)
        INSERT INTO accounts_hmisaccount (
            user_id, organization_id, hmis_username, hmis_role, status, provisioned_at, last_hmis_login_at,
            inactivity_counted_from, retraining_counted_from, must_log_in_by, reactivated_at, inactive_since,
            inactive_reason, retraining_required, retraining_required_on, login_reminders, calendar_token)
        SELECT u.id, o.id, 'bench' || g.g, 'CES_Standard',
               CASE WHEN g.r = 3 THEN 'inactive' ELSE 'active' END,
               (%(today)s::date - 400)::timestamp AT TIME ZONE %(tz)s,
               ((%(today)s::date - g.days) + time '10:00') AT TIME ZONE %(tz)s,
               CASE WHEN g.r = 4 THEN %(today)s::date - 1 ELSE %(today)s::date - g.days END,
               %(today)s::date - g.days,
               CASE WHEN g.r = 4 THEN %(today)s::date - 1 END,
               CASE WHEN g.r = 4 THEN ((%(today)s::date - 1) + time '09:00') AT TIME ZONE %(tz)s END,
               CASE WHEN g.r = 3 THEN ((%(today)s::date - 60) + time '00:05') AT TIME ZONE %(tz)s END,
               CASE WHEN g.r = 3 THEN 'no_login' ELSE '' END,
               false, NULL, (g.g %% 10 = 0), md5(g.g::text)
        FROM g JOIN accounts_user u ON u.email = 'bench' || g.g || '@example.org'
               JOIN o ON o.k = g.g %% %(orgs)s
    """, {"n": n, "today": today, "tz": _tz(), "orgs": ORGANIZATIONS})
    _sql("CREATE TABLE bench_snapshot AS SELECT * FROM accounts_hmisaccount")
    _sql("ANALYZE")


def _tz():
    from django.conf import settings

    return settings.TIME_ZONE


def _restore():
    _sql("TRUNCATE core_auditevent, core_notification")
    _sql("TRUNCATE accounts_hmisaccount CASCADE")
    _sql("INSERT INTO accounts_hmisaccount SELECT * FROM bench_snapshot")
    _sql("ANALYZE accounts_hmisaccount")


def _outcome():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT status, retraining_required, inactive_reason, count(*) FROM accounts_hmisaccount
                          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""")
        states = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM core_auditevent")
        audits = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM core_notification")
        messages = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM accounts_hmisaccount_retraining_courses")
        assignments = cursor.fetchone()[0]
    return states, audits, messages, assignments


def _plain_sql(at, today):
    """The same changes as the sweep, as a few set-based statements."""
    from django.contrib.contenttypes.models import ContentType

    from hmis_access.models import AccessPolicy, HMISAccount

    policy = AccessPolicy.current()
    content_type = ContentType.objects.get_for_model(HMISAccount).pk
    params = {"at": at, "today": today, "inactive": today.toordinal() - policy.inactive_after_days,
              "retrain": today.toordinal() - policy.retraining_after_days, "ct": content_type}
    # Dates as ordinals keep the statements free of interval arithmetic.
    params["inactive_on"] = __import__("datetime").date.fromordinal(params.pop("inactive"))
    params["retrain_on"] = __import__("datetime").date.fromordinal(params.pop("retrain"))
    _sql("""CREATE TEMP TABLE changed ON COMMIT DROP AS
            WITH lapsed AS (
                UPDATE accounts_hmisaccount SET status = 'inactive', inactive_since = %(at)s,
                       inactive_reason = 'no_login_after_reactivation', must_log_in_by = NULL
                WHERE status = 'active' AND must_log_in_by IS NOT NULL AND must_log_in_by < %(today)s
                RETURNING id, user_id, organization_id, hmis_username, 'made inactive' AS verb)
            SELECT * FROM lapsed""", params)
    _sql("""WITH idle AS (
                UPDATE accounts_hmisaccount SET status = 'inactive', inactive_since = %(at)s,
                       inactive_reason = 'no_login'
                WHERE status = 'active' AND must_log_in_by IS NULL AND inactivity_counted_from <= %(inactive_on)s
                RETURNING id, user_id, organization_id, hmis_username, 'made inactive' AS verb)
            INSERT INTO changed SELECT * FROM idle""", params)
    _sql("""WITH retrain AS (
                UPDATE accounts_hmisaccount SET retraining_required = true, retraining_required_on = %(today)s
                WHERE NOT retraining_required AND retraining_counted_from <= %(retrain_on)s
                RETURNING id, user_id, organization_id, hmis_username, 'retraining required' AS verb)
            INSERT INTO changed SELECT * FROM retrain""", params)
    _sql("""INSERT INTO core_auditevent (verb, content_type_id, object_id, object_repr, from_state, to_state,
                                         reason, data, created_at)
            SELECT verb, %(ct)s, id::text, hmis_username, '', '', '', '{}'::jsonb, %(at)s FROM changed""", params)
    _sql("""INSERT INTO core_notification (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts,
                                           next_attempt_at, last_error, created_at)
            SELECT r.user_id, u.email, c.verb, c.hmis_username, '/hmis-account/',
                   c.verb || ':' || %(today)s || ':' || c.id || ':' || u.email, 'pending', 0, now(), '', now()
            FROM changed c
            JOIN LATERAL (SELECT c.user_id UNION
                          SELECT m.user_id FROM accounts_membership m
                          WHERE m.organization_id = c.organization_id AND m.persona = 'agency_administrator') r
              ON true
            JOIN accounts_user u ON u.id = r.user_id""", params)
    _sql("""INSERT INTO accounts_hmisaccount_retraining_courses (hmisaccount_id, course_id)
            SELECT c.id, p.course_id FROM changed c CROSS JOIN accounts_accesspolicy_retraining_courses p
            WHERE c.verb = 'retraining required' AND p.accesspolicy_id = 1""")


def _queue_without_a_worker():
    # Delivery is a worker's job, not the sweep's: queue to an in-memory
    # broker nobody consumes, as a real deployment queues to Redis.
    from hmis_portal.celery import app

    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)
    config, scratch = _configure()
    try:
        _run(args.accounts)
    finally:
        if not args.keep:
            _drop(config, scratch)


def _run(n: int) -> None:
    import datetime as dt

    from django.core.management import call_command
    from django.db import transaction

    from hmis_access.sweeps import run_inactivity_sweep
    from hmis_portal.core.calendar import local_date, start_of_day

    print(f"Migrating a scratch database and creating {n:,} HMIS accounts…", flush=True)
    call_command("migrate", verbosity=0)
    _queue_without_a_worker()
    today = local_date()
    at = start_of_day(today) + dt.timedelta(minutes=5)
    started = time.perf_counter()
    _fill(n, today)
    print(f"  data created in {time.perf_counter() - started:.1f} s", flush=True)

    rss_before = _rss_mb()
    started = time.perf_counter()
    result = run_inactivity_sweep(at=at)
    sweep_seconds = time.perf_counter() - started
    rss_after = _rss_mb()
    sweep_outcome = _outcome()
    changed = result.inactive + result.inactive_after_reactivation + result.retraining

    _restore()
    started = time.perf_counter()
    with transaction.atomic():
        _plain_sql(at, today)
    sql_seconds = time.perf_counter() - started
    sql_outcome = _outcome()

    _restore()
    tracemalloc.start()
    run_inactivity_sweep(at=at)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    same = sweep_outcome == sql_outcome
    print(f"\nHMIS inactivity sweep over {n:,} accounts, {changed:,} changed ({changed / n:.1%}): "
          f"{result.summary()}")
    print(f"  {'sweep (batches of 1,000, audit + outbox)':<46} {sweep_seconds:8.2f} s  "
          f"{changed / sweep_seconds:10,.0f} accounts/s")
    print(f"  {'plain SQL, same changes (set-based)':<46} {sql_seconds:8.2f} s  "
          f"{changed / sql_seconds:10,.0f} accounts/s")
    print(f"  sweep / plain SQL: {sweep_seconds / sql_seconds:.1f}x")
    print(f"  peak Python memory in the sweep (tracemalloc): {peak / 1024 / 1024:.1f} MiB")
    print(f"  process peak RSS: {rss_before:.0f} MiB before the sweep, {rss_after:.0f} MiB after")
    print(f"  audit events {sweep_outcome[1]:,}, outbox messages {sweep_outcome[2]:,}, "
          f"retraining assignments {sweep_outcome[3]:,}")
    print(f"  same final state as the plain SQL: {'yes' if same else 'NO'}")
    if not same:
        print(f"    sweep: {sweep_outcome}\n    sql:   {sql_outcome}")
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
