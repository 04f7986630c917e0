"""The daily HMIS account sweep and the login import at scale.

Creates a scratch PostgreSQL database next to DATABASE_URL's, fills it with
1,000,000 HMIS accounts (users, 1,000 agencies with an agency administrator
each) by set-based inserts (generate_series), about 5% of them crossing a
threshold today (3% reach day 30, 1% day 90, 1% were reactivated yesterday
and never logged in), then reports:

- the sweep (`hmis_access.sweeps.run_inactivity_sweep`: batches of 1,000,
  claimed with SKIP LOCKED, audit and outbox written with INSERT … SELECT):
  wall time and the process's peak RSS;
- the plain SQL statements that make the same changes (three UPDATEs, the
  audit and outbox INSERTs, the retraining assignments), as a floor;
- the same sweep split into chunks over ranges of account ids (the daily
  job `hmis_access.tasks.hmis_inactivity_sweep`, settings.SWEEP_CHUNKS): run
  in this process (eager tasks), then taken by 1 and by 2 real Celery worker
  processes that the benchmark starts on a Redis server of its own (a spare
  port), times bounded, stopped at the end;
- the login import (`hmis_access.activity.record_hmis_logins`) of a report
  naming every account, against its floor: COPY and one UPDATE … FROM.

The data is put back between passes, and the passes' rows are compared
(md5 over the accounts, the audit events and the outbox, ids and insertion
moments left out): the floor must write exactly what the portal writes.
`EXPLAIN` of the sweep's selections shows which index serves each.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hmis .venv/bin/python -m benchmarks.accounts [--big]

100,000 accounts by default; --big: 1,000,000 (and the sweep at 3,000,000).
"""

import argparse
import os
import resource
import sys
import time

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
    (0-6 days ago, 11:00 local), every tenth with an older login than the one
    recorded (which must not move backwards)."""
    import datetime as dt

    from hmis_portal.core.calendar import start_of_day

    logins = {}
    for g in range(1, n + 1):
        days = 200 if g % 10 == 7 else g % 7
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
    # Delivery is a worker's job, not the sweep's: queue to an in-memory
    # broker nobody consumes, as a real deployment queues to Redis.
    from hmis_portal.celery import app

    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"


SWEEP_QUEUE = "bench-sweep"


def _use_broker(url: str, *, eager: bool = False) -> None:
    from hmis_portal.celery import app

    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    # The chunks go to a queue only the benchmark's workers read; the
    # deliveries the chunks queue go to the default one, which nobody reads
    # here, so the outbox stays as the sweep wrote it (compared by md5).
    app.conf.task_routes = {"hmis_access.tasks.hmis_inactivity_sweep_chunk": {"queue": SWEEP_QUEUE}}
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()
    # Forget the pools bound to the previous broker (kombu keeps one per URL).
    app._pool = None
    app.amqp._producer_pool = None


def _start_workers(count: int, broker: str, log) -> list:
    """`count` Celery worker processes (one task at a time each) on the
    scratch database, reading the chunk queue; waits until each answers."""
    import subprocess

    from hmis_portal.celery import app

    env = {**os.environ, "REDIS_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false"}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hmis_portal", "worker", "--concurrency", "1", "--pool", "prefork",
         "-Q", SWEEP_QUEUE, "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        env=env, stdout=log, stderr=subprocess.STDOUT) for i in range(count)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= count:
            return workers
        if any(w.poll() is not None for w in workers):
            break
    _stop_workers(workers)
    raise RuntimeError(f"{count} Celery worker(s) did not start (see their log)")


def _stop_workers(workers) -> None:
    import subprocess

    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def _warm_up(at, broker: str) -> None:
    """The daily job as of a year earlier, when nothing is due: each worker
    process imports the sweep and connects to the database before the timed
    run. Waits until the queue is empty and no worker is busy."""
    import datetime as dt

    import redis as redis_client

    from hmis_access.tasks import hmis_inactivity_sweep
    from hmis_portal.celery import app

    hmis_inactivity_sweep(at=(at - dt.timedelta(days=365)).isoformat())
    queue = redis_client.Redis.from_url(broker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = app.control.inspect(timeout=0.5).active() or {}
        if not queue.llen(SWEEP_QUEUE) and not any(busy.values()):
            return
        time.sleep(0.1)


def _split_on_workers(count: int, at, changed: int, limit: float) -> float:
    """Seconds from queueing the daily job's chunks until the last chunk's
    changes are committed (its audit events counted), with `count` workers.
    Worker start-up and a warm-up run (nothing due) are not counted."""
    from django.db import connection

    from hmis_access.tasks import hmis_inactivity_sweep
    from tests.faults import OwnRedis

    redis = OwnRedis().start()
    log = open(f"/tmp/benchmarks-accounts-workers-{os.getpid()}.log", "a")
    workers = []
    try:
        _use_broker(redis.url)
        workers = _start_workers(count, redis.url, log)
        _warm_up(at, redis.url)
        started = time.perf_counter()
        hmis_inactivity_sweep(at=at.isoformat())
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM core_auditevent")
                if cursor.fetchone()[0] >= changed:
                    return time.perf_counter() - started
            if time.perf_counter() - started > limit:
                raise RuntimeError(f"the chunks did not finish within {limit:.0f} s with {count} worker(s)")
            time.sleep(0.02)
    finally:
        _stop_workers(workers)
        _queue_without_a_worker()
        redis.stop()
        log.close()


def _split_in_process(at) -> float:
    """The daily job with eager tasks: the chunks run here, one after the other."""
    from hmis_access.tasks import hmis_inactivity_sweep

    from hmis_portal.core import outbox

    _use_broker("memory://", eager=True)
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
    parser.add_argument("--accounts", type=int, default=None, help="one size instead of the defaults")
    parser.add_argument("--big", action="store_true", help="1,000,000 accounts, and the sweep at 3,000,000")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv if argv is not None else [a for a in sys.argv[1:] if a.startswith("--")])
    if args.accounts:
        plan = [(args.accounts, True)]
    elif args.big:
        plan = [(1_000_000, True), (3_000_000, False)]
    else:
        plan = [(100_000, True)]
    config, scratch = _configure()
    failed = False
    try:
        for n, with_import in plan:
            failed |= _run(n, with_import=with_import)
    finally:
        if not args.keep:
            _drop(config, scratch)
    if failed:
        raise SystemExit(1)


def _reset_database():
    """An empty scratch database for the next size."""
    from django.core.management import call_command
    from django.db import connection

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


def _compare(name, portal, floor) -> bool:
    same = portal == floor
    print(f"  same rows as the floor (md5 over accounts, audit events, outbox): {'yes' if same else 'NO'}")
    for table, (digest, count) in portal.items():
        print(f"    {table:<24} {count:>10,} rows  md5 {digest}"
              + ("" if floor[table] == (digest, count) else f"   floor: {floor[table]}"))
    return same


def _split_passes(n: int, at, changed: int, sweep_seconds: float, sql_seconds: float, floor, single_same: bool
                  ) -> bool:
    """The split sweep in this process and on 1 and 2 workers; True when
    any pass's rows differ from the floor's."""
    from django.conf import settings

    chunks = settings.SWEEP_CHUNKS
    passes = [("in this process (eager)", lambda: _split_in_process(at))]
    passes += [(f"{count} worker{'s' if count > 1 else ''}",
                lambda count=count: _split_on_workers(count, at, changed, limit=max(120.0, 20 * sweep_seconds)))
               for count in (1, 2)]
    print(f"\nThe same sweep split into {chunks} chunks over account ids ({n:,} accounts; 2 cores shared):")
    print(f"  {'run':<34} {'seconds':>8} {'vs floor':>9} {'vs one run':>11}  same rows")
    print(f"  {'floor (set-based SQL)':<34} {sql_seconds:8.2f} {1:8.2f}x {sql_seconds / sweep_seconds:10.2f}x  -")
    print(f"  {'one run (batches of 1,000)':<34} {sweep_seconds:8.2f} {sweep_seconds / sql_seconds:8.2f}x "
          f"{1:10.2f}x  {'yes' if single_same else 'NO'}", flush=True)
    failed = False
    for name, run in passes:
        _restore()
        seconds = run()
        same = _outcome() == floor
        failed |= not same
        print(f"  {'split, ' + name:<34} {seconds:8.2f} {seconds / sql_seconds:8.2f}x "
              f"{seconds / sweep_seconds:10.2f}x  {'yes' if same else 'NO'}", flush=True)
    return failed


def _run(n: int, *, with_import: bool) -> bool:
    """True when a floor's rows differ from the portal's."""
    import datetime as dt

    from hmis_access.activity import record_hmis_logins
    from hmis_access.sweeps import run_inactivity_sweep
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

    started = time.perf_counter()
    result = run_inactivity_sweep(at=at)
    sweep_seconds = time.perf_counter() - started
    rss = _rss_mb()
    portal = _outcome()
    _explain_outbox()
    changed = result.inactive + result.inactive_after_reactivation + result.retraining
    _restore()
    sql_seconds = _timed(lambda: _plain_sql(at, today))
    floor = _outcome()
    print(f"\nHMIS inactivity sweep over {n:,} accounts, {changed:,} changed: {result.summary()}")
    print(f"  portal (batches of 1,000)  {sweep_seconds:8.2f} s   floor (set-based SQL) {sql_seconds:8.2f} s   "
          f"ratio {sweep_seconds / sql_seconds:.2f}x   peak RSS {rss:.0f} MiB", flush=True)
    failed = not _compare("sweep", portal, floor)
    failed |= _split_passes(n, at, changed, sweep_seconds, sql_seconds, floor, single_same=not failed)
    if not with_import:
        return failed

    _restore()
    logins = _report_logins(n, today)
    started = time.perf_counter()
    imported = record_hmis_logins(logins)
    import_seconds = time.perf_counter() - started
    rss = _rss_mb()
    portal = _outcome()
    _restore()
    sql_seconds = _timed(lambda: _plain_import(logins))
    floor = _outcome()
    # The import's own audit event is the portal's extra: the floor writes none.
    print(f"\nLogin report import, {len(logins):,} rows: {imported.summary()}")
    print(f"  portal (COPY, UPDATE … FROM per 1,000) {import_seconds:8.2f} s   floor (COPY, one UPDATE … FROM) "
          f"{sql_seconds:8.2f} s   ratio {import_seconds / sql_seconds:.2f}x   peak RSS {rss:.0f} MiB", flush=True)
    failed |= not _compare("import", portal, floor)
    return failed


if __name__ == "__main__":
    main(sys.argv[1:])
