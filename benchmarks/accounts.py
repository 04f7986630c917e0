"""The daily HMIS account sweep and the login import at scale.

Creates a scratch PostgreSQL database next to DATABASE_URL's, fills it with
1,000,000 HMIS accounts (users, 1,000 agencies with an agency administrator
each) by set-based inserts (generate_series), about 5% of them crossing a
threshold today (3% reach day 30, 1% day 90, 1% were reactivated yesterday
and never logged in), then reports:

- the sweep (`hmis_accounts.sweep.run_inactivity_sweep`: batches of BATCH_SIZE,
  claimed with SKIP LOCKED, audit and outbox written with INSERT … SELECT):
  wall time and the process's peak RSS;
- the plain SQL statements that make the same changes (three UPDATEs, the
  audit and outbox INSERTs, the retraining assignments), as a floor;
- the same sweep split into chunks over ranges of account ids (the daily
  job `hmis_accounts.tasks.hmis_inactivity_sweep`, settings.SWEEP_CHUNKS): run
  in this process (eager tasks), then taken by 1 and by 2 real Celery worker
  processes that the benchmark starts on a Redis server of its own (a spare
  port), times bounded, stopped at the end;
- the login import (`hmis_accounts.services.record_hmis_logins`) of a report
  naming every account, against its floor: COPY and one UPDATE … FROM.

Each measure runs --repeat times (3), round by round (floor, portal, split,
…, then again), each pass from the same data put back, and the medians are
printed with the spread; the passes' rows are compared (md5 over the
accounts, the audit events and the outbox, ids and insertion moments left
out): the floor must write exactly what the portal writes. `EXPLAIN` of the
sweep's selections shows which index serves each. With more than one size,
the cost per account changed is printed by size, to show how it grows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hmis .venv/bin/python -m benchmarks.accounts [--big]

100,000 accounts by default; --big: 100,000, 1,000,000 and the sweep at
3,000,000. --sized-server: on a PostgreSQL server of the benchmark's own,
with a cache that holds the data (benchmarks/_server.py).
"""

import argparse
import contextlib
import os
import resource
import signal
import statistics
import sys
import time

from benchmarks import _scratch, _workers, verdict

ORGANIZATIONS = 1000
# The sweep's goal is set for a CoC's accounts at this size (`verdict`).
GOAL_SIZE = 1_000_000
# The scratch database is a migrated copy (benchmarks/_scratch.py): the first
# size finds it ready.
_migrated = False


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
    global _migrated
    _migrated = _scratch.copy_migrated(scratch)
    if not _migrated:
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
    _sql("VACUUM (ANALYZE)")


def _tz():
    from django.conf import settings

    return settings.TIME_ZONE


def _restore():
    _sql("TRUNCATE core_auditevent, core_notification")
    _sql("TRUNCATE accounts_hmisaccount CASCADE")
    _sql("INSERT INTO accounts_hmisaccount SELECT * FROM bench_snapshot")
    # Vacuumed, as a table in use is: otherwise autovacuum takes up the rows
    # just written in the middle of whichever pass comes next.
    _sql("VACUUM (ANALYZE) accounts_hmisaccount")


def _outcome():
    """md5 of every row the sweep or the import writes (ids of the new rows and
    their insertion moments left out), and the counts."""
    from django.db import connection

    queries = {
        "accounts": """SELECT md5(string_agg(concat_ws('|', id, status, last_hmis_login_at, inactivity_counted_from,
                              retraining_counted_from, must_log_in_by, inactive_since, inactive_reason,
                              retraining_required, retraining_required_on), ',' ORDER BY id)), count(*)
                       FROM accounts_hmisaccount""",
        "audit events": """SELECT md5(string_agg(x, ',' ORDER BY x)), count(*) FROM (
                           SELECT concat_ws('|', actor_id, verb, content_type_id, object_id, object_repr, from_state,
                                  to_state, reason, data::text) x FROM core_auditevent
                           WHERE verb <> 'imported the HMIS login report') e""",
        "outbox": """SELECT md5(string_agg(x, ',' ORDER BY x)), count(*) FROM (
                     SELECT concat_ws('|', recipient_id, to_email, subject, body, link, dedupe_key, status) x
                     FROM core_notification) n""",
        "retraining assignments": """SELECT md5(string_agg(hmisaccount_id || ':' || course_id, ','
                                     ORDER BY hmisaccount_id, course_id)), count(*)
                                     FROM accounts_hmisaccount_retraining_courses""",
    }
    found = {}
    with connection.cursor() as cursor:
        for name, query in queries.items():
            cursor.execute(query)
            found[name] = tuple(cursor.fetchone())
    return found


def _kinds(policy):
    """What each kind of change writes, as the sweep words it: (kind, verb,
    from, to, reason, subject, dedupe key prefix, text before the username,
    text after it up to the date, the date's format — `day_text`'s "Wed, Nov 25",
    the year added in SQL when it is not this one — and text after the date)."""
    how_to = "Ask your agency administrator to request reactivation in the portal."
    return [
        ("lapsed", "made inactive", "Active", "Inactive",
         f"No HMIS login within {policy.reactivation_login_hours} hours of reactivation.",
         "HMIS account is now Inactive",
         "hmis-inactive", "The HMIS account ", " was reactivated but nobody logged in to HMIS by the end of ",
         "Dy, Mon FMDD", f", so it is Inactive again. {how_to}"),
        ("idle", "made inactive", "Active", "Inactive",
         f"No HMIS login for {policy.inactive_after_days} days.", "HMIS account is now Inactive",
         "hmis-inactive", "The HMIS account ", " has had no HMIS login since ", "Dy, Mon FMDD",
         f", {policy.inactive_after_days} days, so it is now Inactive and cannot be used. {how_to}"),
        ("retrain", "retraining required", "", "Retraining required",
         f"No HMIS login for {policy.retraining_after_days} days: {policy.retraining_title} must be retaken "
         "before reactivation.", "HMIS retraining required", "hmis-retraining",
         "The HMIS account ", f" has had no HMIS login for {policy.retraining_after_days} days. Before it can be "
         f"reactivated, {policy.retraining_title} must be retaken.", "", ""),
    ]


def _plain_sql(at, today):
    """The same changes as the sweep, as a few set-based statements over the
    whole table, writing exactly the sweep's rows."""
    import datetime as dt

    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.urls import reverse

    from hmis_access.models import AccessPolicy, HMISAccount
    from hmis_portal.core.calendar import local_date

    policy = AccessPolicy.current()
    marker = "bench-marker-slug"
    prefix, suffix = reverse("agency-hmis-accounts", kwargs={"slug": marker}).split(marker)
    params = {"at": at, "today": today, "ct": ContentType.objects.get_for_model(HMISAccount).pk,
              "inactive_on": today - dt.timedelta(days=policy.inactive_after_days),
              "retrain_on": today - dt.timedelta(days=policy.retraining_after_days),
              "base": settings.PORTAL_BASE_URL.rstrip("/"), "status_link": reverse("hmis-account-status"),
              "prefix": prefix, "suffix": suffix, "policy": policy.pk, "day": today.isoformat(),
              "year": local_date().year}
    kinds = _kinds(policy)
    values = ", ".join(["(" + ", ".join(["%s"] * 11) + ")"] * len(kinds))
    _sql(f"""CREATE TEMP TABLE kinds (kind, verb, from_state, to_state, reason, subject, key, head, middle, format,
                                      tail) ON COMMIT DROP AS VALUES {values}""",
         [value for kind in kinds for value in kind])
    _sql("""CREATE TEMP TABLE changed ON COMMIT DROP AS
            WITH lapsed AS (
                UPDATE accounts_hmisaccount a SET status = 'inactive', inactive_since = %(at)s,
                       inactive_reason = 'no_login_after_reactivation', must_log_in_by = NULL, must_log_in_before = NULL
                FROM accounts_hmisaccount o
                WHERE o.id = a.id AND a.status = 'active' AND a.must_log_in_by IS NOT NULL
                  AND a.must_log_in_by < %(today)s
                RETURNING a.id, a.user_id, a.organization_id, a.hmis_username, 'lapsed' AS kind, o.must_log_in_by AS day)
            SELECT * FROM lapsed""", params)
    _sql("""WITH idle AS (
                UPDATE accounts_hmisaccount SET status = 'inactive', inactive_since = %(at)s,
                       inactive_reason = 'no_login', must_log_in_by = NULL, must_log_in_before = NULL
                WHERE status = 'active' AND must_log_in_by IS NULL AND inactivity_counted_from <= %(inactive_on)s
                RETURNING id, user_id, organization_id, hmis_username, 'idle', inactivity_counted_from)
            INSERT INTO changed SELECT * FROM idle""", params)
    _sql("""WITH retrain AS (
                UPDATE accounts_hmisaccount SET retraining_required = true, retraining_required_on = %(today)s
                WHERE NOT retraining_required AND retraining_counted_from <= %(retrain_on)s
                RETURNING id, user_id, organization_id, hmis_username, 'retrain', NULL::date)
            INSERT INTO changed SELECT * FROM retrain""", params)
    _sql("""INSERT INTO core_auditevent (actor_id, verb, content_type_id, object_id, object_repr, from_state,
                                         to_state, reason, data, created_at)
            SELECT NULL, k.verb, %(ct)s, c.id::text, left(c.hmis_username, 200), k.from_state, k.to_state, k.reason,
                   '{}'::jsonb, now()
            FROM changed c JOIN kinds k USING (kind)""", params)
    text = ("k.head || c.hmis_username || k.middle || "
            "CASE WHEN c.day IS NULL THEN '' ELSE to_char(c.day, k.format) END || "
            "CASE WHEN c.day IS NULL OR extract(year FROM c.day) = %(year)s THEN '' ELSE to_char(c.day, ', YYYY') END "
            "|| k.tail")
    _sql(f"""INSERT INTO core_notification (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts,
                                            next_attempt_at, last_error, created_at)
             SELECT u.id, u.email, k.subject, {text} || E'\\n\\n' || %(base)s || %(status_link)s, %(status_link)s,
                    left(k.key || ':' || %(day)s || ':' || c.id || ':' || u.email, 200), 'pending', 0, now(), '', now()
             FROM changed c JOIN kinds k USING (kind) JOIN accounts_user u ON u.id = c.user_id
             WHERE u.email <> ''
             ON CONFLICT (dedupe_key) DO NOTHING""", params)
    _sql(f"""INSERT INTO core_notification (recipient_id, to_email, subject, body, link, dedupe_key, status, attempts,
                                            next_attempt_at, last_error, created_at)
             SELECT u.id, u.email, left(k.subject || ': ' || c.hmis_username, 200),
                    {text} || E'\\n\\n' || %(base)s || %(prefix)s || o.slug || %(suffix)s,
                    %(prefix)s || o.slug || %(suffix)s,
                    left(k.key || ':' || %(day)s || ':' || c.id || ':' || u.email, 200), 'pending', 0, now(), '',
                    now()
             FROM changed c JOIN kinds k USING (kind)
             JOIN accounts_membership m ON m.organization_id = c.organization_id
                  AND m.persona = 'agency_administrator' AND m.user_id <> c.user_id
             JOIN accounts_user u ON u.id = m.user_id AND u.is_active AND u.email <> ''
             JOIN accounts_organization o ON o.id = c.organization_id
             ON CONFLICT (dedupe_key) DO NOTHING""", params)
    _sql("""INSERT INTO accounts_hmisaccount_retraining_courses (hmisaccount_id, course_id)
            SELECT c.id, p.course_id FROM changed c CROSS JOIN accounts_accesspolicy_retraining_courses p
            WHERE c.kind = 'retrain' AND p.accesspolicy_id = %(policy)s""", params)


def _report_logins(n: int, today):
    """A login report naming every account: most logged in again since
    (1-7 days ago, 11:00 local: never today, whose 11:00 is in the future
    before 11:00, and the import refuses a login in the future), every tenth
    with an older login than the one recorded (which must not move
    backwards)."""
    import datetime as dt

    from hmis_portal.core.calendar import start_of_day

    logins = {}
    for g in range(1, n + 1):
        days = 200 if g % 10 == 7 else 1 + g % 7
        logins[f"bench{g}"] = start_of_day(today - dt.timedelta(days=days)) + dt.timedelta(hours=11)
    return logins


def _plain_import(logins):
    """The floor of the login import: COPY into a temporary table, one UPDATE … FROM."""
    import io

    from django.db import connection

    from hmis_portal.core.calendar import local_date

    buffer = io.StringIO()
    for name, moment in logins.items():
        buffer.write(f"{name}\t{moment.isoformat()}\t{local_date(moment).isoformat()}\n")
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE report (hmis_username varchar(150), login_at timestamptz, login_day date) "
                       "ON COMMIT DROP")
        cursor.cursor.copy_expert("COPY report FROM STDIN", buffer)
        cursor.execute("""
            UPDATE accounts_hmisaccount a SET last_hmis_login_at = r.login_at,
                   inactivity_counted_from = GREATEST(a.inactivity_counted_from, r.login_day),
                   retraining_counted_from = GREATEST(a.retraining_counted_from, r.login_day),
                   must_log_in_by = CASE WHEN a.reactivated_at IS NULL OR r.login_at >= a.reactivated_at THEN NULL
                                         ELSE a.must_log_in_by END,
                   must_log_in_before = CASE WHEN a.reactivated_at IS NULL OR r.login_at >= a.reactivated_at
                                             THEN NULL ELSE a.must_log_in_before END
            FROM report r
            WHERE r.hmis_username = a.hmis_username
              AND (a.last_hmis_login_at IS NULL OR r.login_at > a.last_hmis_login_at)""")


def _explain(today):
    """Which index serves each of the sweep's selections (the claim's inner SELECT)."""
    import datetime as dt

    from django.db import connection

    from hmis_access.models import AccessPolicy

    policy = AccessPolicy.current()
    selections = {
        "reactivated, no login": ("status = 'active' AND must_log_in_by IS NOT NULL AND must_log_in_by < %s "
                                  "ORDER BY must_log_in_by, id", [today]),
        "no login (inactivity)": ("status = 'active' AND must_log_in_by IS NULL AND inactivity_counted_from <= %s "
                                  "ORDER BY inactivity_counted_from, id",
                                  [today - dt.timedelta(days=policy.inactive_after_days)]),
        "no login (retraining)": ("NOT retraining_required AND retraining_counted_from <= %s "
                                  "ORDER BY retraining_counted_from, id",
                                  [today - dt.timedelta(days=policy.retraining_after_days)]),
    }
    with connection.cursor() as cursor:
        for name, (where, params) in selections.items():
            cursor.execute(f"EXPLAIN SELECT id FROM accounts_hmisaccount WHERE {where} LIMIT 1000 "
                           "FOR UPDATE SKIP LOCKED", params)
            plan = [row[0] for row in cursor.fetchall()]
            print(f"  EXPLAIN {name}: " + " / ".join(line.strip() for line in plan if "Scan" in line), flush=True)


def _explain_outbox():
    """The plans of the queries that read the outbox's dedupe key, over the
    sweep's outbox: each uses the unique index (no `_like` copy needed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT dedupe_key FROM core_notification ORDER BY id LIMIT 3")
        keys = [row[0] for row in cursor.fetchall()]
        if not keys:
            return
        queries = {
            "notify (one key)": ("SELECT 1 FROM core_notification WHERE dedupe_key = %s LIMIT 1", [keys[0]]),
            "notify_many (keys)": ("SELECT id FROM core_notification WHERE dedupe_key IN (%s, %s, %s) "
                                   "AND status = 'pending'", keys),
            "sweep insert": ("INSERT INTO core_notification (to_email, subject, body, link, dedupe_key, status, "
                             "attempts, next_attempt_at, last_error, created_at) "
                             "SELECT to_email, subject, body, link, dedupe_key, status, attempts, now(), '', now() "
                             "FROM core_notification WHERE dedupe_key = %s ON CONFLICT (dedupe_key) DO NOTHING",
                             [keys[0]]),
        }
        for name, (query, params) in queries.items():
            cursor.execute(f"EXPLAIN {query}", params)
            plan = [row[0].strip() for row in cursor.fetchall()]
            shown = [line.split("  (")[0].lstrip("-> ") for line in plan if "Scan" in line or "Arbiter" in line]
            print(f"  EXPLAIN outbox {name}: " + " / ".join(shown), flush=True)


def _queue_without_a_worker():
    _workers.queue_in_memory()


def _split_on_workers(workers: "_workers.Workers", count: int, at, changed: int, limit: float) -> float:
    """Seconds from queueing the daily job's chunks until the last chunk's
    changes are committed (its audit events counted), with `count` workers.
    Worker start-up and a warm-up run (nothing due) are not counted."""
    import datetime as dt

    from django.db import connection

    from hmis_accounts.tasks import hmis_inactivity_sweep

    def done():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM core_auditevent")
            return cursor.fetchone()[0] >= changed

    with workers.use(count):
        # The daily job as of a year earlier, when nothing is due: each worker
        # process imports the sweep and connects to the database first.
        hmis_inactivity_sweep(at=(at - dt.timedelta(days=365)).isoformat())
        workers.wait_idle()
        started = time.perf_counter()
        hmis_inactivity_sweep(at=at.isoformat())
        return _workers.seconds_since(started, done, limit=limit, what=f"the chunks on {count} worker(s)")


def _split_in_process(at) -> float:
    """The daily job with eager tasks: the chunks run here, one after the other."""
    from hmis_accounts.tasks import hmis_inactivity_sweep

    from hmis_portal.core import outbox

    _workers.use_broker("memory://", eager=True)
    try:
        # Eager delivery would send the messages here; held, they stay
        # pending as on a deployment where the workers deliver them.
        with outbox.held():
            started = time.perf_counter()
            hmis_inactivity_sweep(at=at.isoformat())
            return time.perf_counter() - started
    finally:
        _queue_without_a_worker()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=lambda text: [int(n) for n in text.split(",")], default=None,
                        help="sizes instead of the defaults, comma-separated (100000,1000000)")
    parser.add_argument("--big", action="store_true",
                        help="100,000 and 1,000,000 accounts, and the sweep at 3,000,000")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved passes of each measure (medians)")
    parser.add_argument("--sized-server", action="store_true",
                        help="on a PostgreSQL server of the benchmark's own whose cache holds the data "
                             "(benchmarks/_server.py)")
    parser.add_argument("--sweep-only", action="store_true",
                        help="the sweep's floor and single run only (no split runs, no login import)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0]
    # A stop (Ctrl-C, kill) still runs the clean-up below: the scratch
    # database and the benchmark's own server are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.accounts:
        plan = [(n, True) for n in args.accounts]
    elif args.big:
        plan = [(100_000, True), (1_000_000, True), (3_000_000, False)]
    else:
        plan = [(100_000, True)]
    server = None
    if args.sized_server:
        from benchmarks._server import SizedServer

        server = SizedServer().start()
        os.environ["DATABASE_URL"] = server.url
        print(f"On the benchmark's own PostgreSQL server ({server.describe()})", flush=True)
    try:
        config, scratch = _configure()
        failed, figures = False, []
        try:
            for n, with_import in plan:
                differs, row = _run(n, with_import=with_import and not args.sweep_only,
                                    split=not args.sweep_only, repeat=max(1, args.repeat))
                failed |= differs
                figures.append(row)
            _print_growth(figures)
        finally:
            if not args.keep:
                _drop(config, scratch)
    finally:
        if server is not None:
            server.stop()
    if failed:
        raise SystemExit(1)


def _reset_database():
    """An empty scratch database for the next size."""
    from django.core.management import call_command
    from django.db import connection

    global _migrated
    if _migrated:
        _migrated = False
        return

    _sql("DROP SCHEMA public CASCADE")
    _sql("CREATE SCHEMA public")
    connection.close()
    call_command("migrate", verbosity=0)


def _timed(step) -> float:
    from django.db import transaction

    started = time.perf_counter()
    with transaction.atomic():
        step()
    return time.perf_counter() - started


def _print_rows(outcome, floor) -> None:
    for table, (digest, count) in outcome.items():
        print(f"    {table:<24} {count:>10,} rows  md5 {digest}"
              + ("" if floor[table] == (digest, count) else f"   floor: {floor[table]}"))


def _spread(values) -> str:
    return f"{statistics.median(values):8.2f} ({min(values):.2f}-{max(values):.2f})"


def _interleaved(passes, repeat: int) -> tuple[dict, dict]:
    """Each pass `repeat` times, round by round (A B C, A B C, …), each from
    the same data: the seconds and the rows written, by pass."""
    seconds = {name: [] for name, _run in passes}
    outcomes = {name: [] for name, _run in passes}
    for _round in range(repeat):
        for name, run in passes:
            _restore()
            seconds[name].append(run())
            outcomes[name].append(_outcome())
    return seconds, outcomes


def _same_as(outcomes: dict, floor) -> dict:
    return {name: all(found == floor for found in found_all) for name, found_all in outcomes.items()}


def _run(n: int, *, with_import: bool, split: bool, repeat: int) -> tuple[bool, dict]:
    """The measures at `n` accounts: (True when a pass's rows differ from its
    floor's, the medians)."""
    import datetime as dt

    from django.conf import settings

    from hmis_accounts.services import LOGIN_BATCH_SIZE, record_hmis_logins
    from hmis_accounts.sweep import BATCH_SIZE, run_inactivity_sweep
    from hmis_portal.core.calendar import local_date, start_of_day

    print(f"\nMigrating a scratch database and creating {n:,} HMIS accounts…", flush=True)
    _reset_database()
    _queue_without_a_worker()
    today = local_date()
    at = start_of_day(today) + dt.timedelta(minutes=5)
    started = time.perf_counter()
    _fill(n, today)
    print(f"  data created in {time.perf_counter() - started:.1f} s", flush=True)
    _explain(today)

    # A first portal run, untimed: what it changes bounds the workers' passes,
    # and its outbox shows the plans of the dedupe key's queries.
    result = run_inactivity_sweep(at=at)
    rss = _rss_mb()
    changed = result.inactive + result.inactive_after_reactivation + result.retraining
    _explain_outbox()

    def one_run():
        started = time.perf_counter()
        run_inactivity_sweep(at=at)
        return time.perf_counter() - started

    chunks = settings.SWEEP_CHUNKS
    limit = 120.0 + n / 10_000
    passes = [
        ("floor (set-based SQL)", lambda: _timed(lambda: _plain_sql(at, today))),
        (f"one run (batches of {BATCH_SIZE:,})", one_run),
    ]
    with contextlib.ExitStack() as stack:
        if split:
            workers = stack.enter_context(_workers.Workers("hmis_accounts.tasks.hmis_inactivity_sweep_chunk"))
            passes += [
                (f"split in {chunks}, in this process", lambda: _split_in_process(at)),
                (f"split in {chunks}, 1 worker", lambda: _split_on_workers(workers, 1, at, changed, limit)),
                (f"split in {chunks}, 2 workers", lambda: _split_on_workers(workers, 2, at, changed, limit)),
            ]
        seconds, outcomes = _interleaved(passes, repeat)
    floor_name, one_name = passes[0][0], passes[1][0]
    floor = outcomes[floor_name][0]
    same = _same_as(outcomes, floor)
    floor_s, one_s = statistics.median(seconds[floor_name]), statistics.median(seconds[one_name])
    print(f"\nHMIS inactivity sweep over {n:,} accounts, {changed:,} changed: {result.summary()}")
    print(f"  medians of {repeat} interleaved passes, each from the same data (2 cores shared):")
    print(f"  {'run':<34} {'seconds (min-max)':>20} {'vs floor':>9} {'vs one run':>11}  same rows as the floor")
    for name, _pass in passes:
        median = statistics.median(seconds[name])
        print(f"  {name:<34} {_spread(seconds[name]):>20} {median / floor_s:8.2f}x {median / one_s:10.2f}x  "
              f"{'yes' if same[name] else 'NO'}")
    judged = verdict(one_s / floor_s, 1.5, size=n, goal_size=GOAL_SIZE, counted="accounts")
    print(f"  ratio one run / floor: {one_s / floor_s:.2f}x (goal <= 1.5x: {judged})   peak RSS {rss:.0f} MiB")
    print("  rows (md5 over accounts, audit events, outbox; ids and insertion moments left out):")
    _print_rows(outcomes[one_name][0], floor)
    failed = not all(same.values())
    figures = {"accounts": n, "changed": changed, "floor": floor_s, "one run": one_s}
    if split:
        figures.update({"1 worker": statistics.median(seconds[passes[3][0]]),
                        "2 workers": statistics.median(seconds[passes[4][0]])})
    if not with_import:
        return failed, figures

    logins = _report_logins(n, today)
    imported = []

    def portal_import():
        started = time.perf_counter()
        imported.append(record_hmis_logins(logins=logins))
        return time.perf_counter() - started

    passes = [("floor (COPY, one UPDATE … FROM)", lambda: _timed(lambda: _plain_import(logins))),
              (f"portal (COPY, UPDATE … FROM per {LOGIN_BATCH_SIZE:,})", portal_import)]
    seconds, outcomes = _interleaved(passes, repeat)
    rss = _rss_mb()
    floor = outcomes[passes[0][0]][0]
    same = _same_as(outcomes, floor)
    floor_s, portal_s = (statistics.median(seconds[name]) for name, _pass in passes)
    # The import's own audit event is the portal's extra: the floor writes none.
    print(f"\nLogin report import, {len(logins):,} rows: {imported[0].summary()}")
    print(f"  medians of {repeat} interleaved passes:")
    for name, _pass in passes:
        print(f"  {name:<40} {_spread(seconds[name]):>20}  same rows as the floor: {'yes' if same[name] else 'NO'}")
    print(f"  ratio portal / floor: {portal_s / floor_s:.2f}x (goal <= 2x)   peak RSS {rss:.0f} MiB", flush=True)
    _print_rows(outcomes[passes[1][0]][0], floor)
    failed |= not all(same.values())
    figures.update({"import floor": floor_s, "import": portal_s})
    return failed, figures


def _print_growth(figures) -> None:
    """Whether the cost grows linearly: microseconds per account changed at
    each size, and each against the smallest size's."""
    if len(figures) < 2:
        return
    first = figures[0]
    keys = [key for key in ("floor", "one run", "1 worker", "2 workers") if all(key in row for row in figures)]
    print("\nCost per account changed, by size (medians; in brackets: against the smallest size):")
    print(f"  {'accounts':>10} {'changed':>9}  " + "  ".join(f"{key + ' us':>17}" for key in keys)
          + "  one run / floor")
    for row in figures:
        cells = []
        for key in keys:
            per, base = row[key] / row["changed"] * 1e6, first[key] / first["changed"] * 1e6
            cells.append(f"{per:8.1f} ({per / base:.2f}x)")
        print(f"  {row['accounts']:>10,} {row['changed']:>9,}  " + "  ".join(f"{cell:>17}" for cell in cells)
              + f"  {row['one run'] / row['floor']:8.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
