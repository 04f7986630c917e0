"""CES referrals at scale: the timeliness sweep and the counts page, each
against the plain set-based SQL that gives the same result (its floor).

    DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.referrals [--sizes 100000] [--big]

Works in a throw-away database (<name>_referrals_bench), created and dropped
here: not test_<name>, which the test suite on the same DATABASE_URL uses.
Referrals are inserted set-based with generate_series over 200 programs of 50
agencies (3 provider staff each, 5 CES matchers): 90% closed, 10% open, with
deadlines around now. As in a running CoC, referrals that went overdue or
reached the escalation margin more than two days ago were already alerted,
and clients returned to matching more than two weeks ago were re-referred.

For each size it prints, for the sweep (one run: a batch of overdue alerts
and a batch of escalations, `sweep_batch_size` each) and for the CES team's
counts page (every query of the request; again with production's shared
cache in a Redis of its own when BENCH_REDIS_URL is set):
  portal time, floor time, ratio portal/floor,
the sweep's daily job split into chunks (settings.SWEEP_CHUNKS) in this
process and on 1 and 2 real Celery workers (a Redis of the benchmark's own),
checks that all make exactly the same changes (md5 over referrals, their
transitions, audit events and outbox rows; the counts compared figure by
figure), and prints the EXPLAIN of each hot statement. Between passes the
data is put back, so each pass starts from the same state.
"""

import argparse
import contextlib
import os
import resource
import statistics
import sys
import time

from benchmarks import verdict

DEFAULT_SIZES = [100_000]
BIG_SIZES = [100_000, 1_000_000]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.referrals")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="comma-separated numbers of referrals (default 100000)")
    parser.add_argument("--big", action="store_true", help="also 1,000,000 referrals (several minutes)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved passes per measure (medians)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the policy's sweep_batch_size for the run (default: the policy's own, 500); "
                             "e.g. 5000 acts on about 10,000 referrals per run")
    parser.add_argument("--no-split", action="store_true",
                        help="leave out the split runs (in this process, on 1 and 2 workers): the sweep's one run "
                             "against its floor and the counts page only")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    sizes = args.sizes or (BIG_SIZES if args.big else DEFAULT_SIZES)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")
    # DEBUG off: the query log is switched on only where queries are captured.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + os.urandom(16).hex())
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    import logging
    import warnings

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from django.conf import settings
    from django.test.utils import override_settings

    # The page is rendered without collectstatic's manifest.
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="Limit for query logging exceeded")
    warnings.filterwarnings("ignore", message="No directory at")

    if connection.vendor != "postgresql":
        print("benchmarks.referrals needs PostgreSQL: set DATABASE_URL=postgres://…")
        return 1
    setup_test_environment()
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{connection.settings_dict['NAME']}_referrals_bench"
    # Delivery is the workers' job, not the sweep's: queue the tasks (in
    # memory) instead of running them in this process.
    from benchmarks import _workers

    _workers.queue_in_memory()
    failed = False
    for total in sizes:
        old_name = _scratch_database(connection)
        # The benchmark's workers (separate processes) use the same database.
        os.environ["DATABASE_URL"] = (os.environ["DATABASE_URL"].rsplit("/", 1)[0]
                                      + "/" + connection.settings_dict["NAME"])
        try:
            failed |= not run(total, repeat=args.repeat, batch_size=args.batch_size, split=not args.no_split)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    return 1 if failed else 0


# --- helpers ------------------------------------------------------------------

def _scratch_database(connection) -> str:
    """A migrated scratch database (its TEST name), copied when one is named
    (benchmarks/_scratch.py); returns the name to give back to destroy_test_db."""
    from benchmarks import _scratch

    old_name = connection.settings_dict["NAME"]
    name = connection.settings_dict["TEST"]["NAME"]
    if not _scratch.copy_migrated(name):
        return connection.creation.create_test_db(verbosity=0, autoclobber=True)
    from django.conf import settings

    connection.close()  # as create_test_db: the connection, and its workers' settings, name the copy
    settings.DATABASES[connection.alias]["NAME"] = connection.settings_dict["NAME"] = name
    return old_name


def _verify_second_factor(client, user) -> None:
    """CoC staff see client data only with two factors: the session is marked
    verified with an authenticator device, as after a sign-in."""
    from django.test import RequestFactory
    from django_otp import login as otp_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="Benchmark", defaults={"confirmed": True})
    session = client.session
    request = RequestFactory().get("/")
    request.session, request.user = session, user
    otp_login(request, device)
    session.save()


def _sql(statement, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else cursor.rowcount


class Recorder:
    """Every statement run while active, with its time (an execute wrapper:
    Django's own query log is reset at the start of each request)."""

    def __init__(self):
        self.captured = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.captured.append({"sql": sql, "params": params, "time": time.perf_counter() - start})

    def __enter__(self):
        from django.db import connection

        self._cm = connection.execute_wrapper(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)

    @property
    def captured_queries(self):
        return self.captured


def _explain(sql, params=None, analyze=False):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") + sql, params or [])
        return "\n".join("      " + row[0] for row in cursor.fetchall())


# The goals are set for a CoC's referrals at this size (`verdict`).
GOAL_SIZE = 1_000_000


def _line(label, portal, floor, goal, total):
    ratio = portal / floor if floor else float("inf")
    judged = verdict(ratio, goal, size=total, goal_size=GOAL_SIZE, counted="referrals")
    print(f"  {label:<34} portal {portal * 1000:9.1f} ms   floor {floor * 1000:8.1f} ms   "
          f"ratio {ratio:5.2f}x  (goal <= {goal}x: {judged})", flush=True)


# --- data ---------------------------------------------------------------------

def populate(total: int, now):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.models import Membership, Organization
    from onboarding.models import Program, ProgramType
    from referrals.models import NeedStatus

    User = get_user_model()
    kind = ProgramType.objects.get(code="permanent-housing")
    orgs = Organization.objects.bulk_create([Organization(name=f"Bench Agency {i}", slug=f"bench-{i}")
                                             for i in range(50)])
    programs = Program.objects.bulk_create([Program(organization=orgs[i % 50], name=f"Program {i}",
                                                    program_type=kind) for i in range(200)])
    users = User.objects.bulk_create(
        [User(email=f"staff{i}@example.org", full_name=f"Staff {i}", password="!") for i in range(150)]
        + [User(email=f"matcher{i}@example.org", full_name=f"Matcher {i}", password="!", is_staff=True)
           for i in range(5)])
    Membership.objects.bulk_create([Membership(user=users[i], organization=orgs[i % 50], persona="staff")
                                    for i in range(150)])
    Group.objects.get(name="CES team").user_set.add(*users[150:])
    open_ids = list(NeedStatus.objects.filter(is_final=False).order_by("pk").values_list("pk", flat=True))
    closed_ids = list(NeedStatus.objects.filter(is_final=True).order_by("pk").values_list("pk", flat=True))
    p0, np = programs[0].pk, len(programs)
    start = time.perf_counter()
    _sql(f"""
        INSERT INTO referrals_referral (program_id, hmis_client_id, contact_name, contact_phone, contact_email,
            contact_notes, status_id, status_entered_at, referred_at, is_open, due_at, escalate_at,
            overdue_notified_at, escalated_at, closed_at, transfer_reason, version)
        SELECT {p0} + (g %% {np}), 'B' || g, 'Client', '555-0100', '', '',
            CASE WHEN g %% 10 = 0 THEN (ARRAY{open_ids})[1 + (g / 10) %% {len(open_ids)}]
                 ELSE (ARRAY{closed_ids})[1 + g %% {len(closed_ids)}] END,
            %(now)s - (g %% 400) * interval '1 day' - (g %% 997) * interval '1 second',
            %(now)s - (g %% 400) * interval '1 day' - (g %% 997) * interval '1 second',
            g %% 10 = 0,
            CASE WHEN g %% 10 = 0 THEN %(now)s + ((g %% 41) - 20) * interval '1 day' - g * interval '1 ms' END,
            CASE WHEN g %% 10 = 0 THEN %(now)s + ((g %% 41) - 16) * interval '1 day' - g * interval '1 ms' END,
            NULL, NULL,
            CASE WHEN g %% 10 <> 0 THEN %(now)s - (g %% 400) * interval '1 day' END, '', 1
        FROM generate_series(1, %(total)s) AS g""".replace("%(now)s", "%s").replace("%(total)s", "%s"),
         [now] * 5 + [total])
    # Alerts older than two days were sent by earlier runs.
    _sql("""UPDATE referrals_referral SET overdue_notified_at = due_at + interval '5 minutes'
            WHERE is_open AND due_at < %s - interval '2 days'""", [now])
    _sql("""UPDATE referrals_referral SET escalated_at = escalate_at + interval '5 minutes'
            WHERE is_open AND escalate_at < %s - interval '2 days'""", [now])
    # Clients returned to matching more than two weeks ago were re-referred
    # (the next referral row stands for the new referral).
    _sql("""UPDATE referrals_referral n SET rereferred_from_id = o.id
            FROM referrals_referral o JOIN referrals_needstatus s ON s.id = o.status_id
            WHERE n.id = o.id + 1 AND s.returns_to_matching AND o.closed_at < %s - interval '14 days'""", [now])
    _maintain_columns()
    _sql("VACUUM ANALYZE referrals_referral")
    counts = _sql("SELECT count(*) FILTER (WHERE is_open), count(*) FROM referrals_referral")[0]
    print(f"  inserted {counts[1]:,} referrals ({counts[0]:,} open) in {time.perf_counter() - start:.1f} s",
          flush=True)
    return orgs, programs, users


def _maintain_columns():
    """Columns a later schema keeps up to date in the services: filled here
    for the rows inserted directly."""
    from referrals.models import Referral

    fields = {f.name for f in Referral._meta.get_fields()}
    if "awaiting_rereferral" in fields:
        _sql("""UPDATE referrals_referral r SET awaiting_rereferral = true
                FROM referrals_needstatus s
                WHERE s.id = r.status_id AND (s.returns_to_matching OR r.transfer_requested_at IS NOT NULL)
                  AND NOT EXISTS (SELECT 1 FROM referrals_referral n WHERE n.rereferred_from_id = r.id)""")


# --- the sweep: state, checksum, restore ------------------------------------------

CHECKSUM = """
SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM (
    SELECT id, status_id, status_entered_at, is_open, due_at, escalate_at, overdue_notified_at, escalated_at,
           closed_at, version FROM referrals_referral WHERE is_open OR id IN (SELECT referral_id FROM {mark}_t)) t), '')
  || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM (
    SELECT referral_id, from_status_id, to_status_id, actor_id, made_at, note, from_due_at, within_standard,
           days_in_status FROM referrals_referraltransition WHERE id > %s) t), '')
  || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM (
    SELECT actor_id, verb, content_type_id, object_id, object_repr, from_state, to_state, reason, data
    FROM core_auditevent WHERE id > %s) t), '')
  || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM (
    SELECT recipient_id, to_email, subject, body, link, dedupe_key, status, attempts
    FROM core_notification WHERE id > %s) t), ''))
"""


class Snapshot:
    """The open referrals before a pass, and the high-water marks of the
    tables a pass appends to, so every pass starts from the same state."""

    def __init__(self):
        _sql("DROP TABLE IF EXISTS bench_open_referrals")
        _sql("CREATE TABLE bench_open_referrals AS SELECT * FROM referrals_referral WHERE is_open")
        self.marks = [_sql(f"SELECT coalesce(max(id), 0) FROM {table}")[0][0]
                      for table in ("referrals_referraltransition", "core_auditevent", "core_notification")]

    def checksum(self) -> str:
        _sql("DROP TABLE IF EXISTS bench_moved_t")
        _sql("CREATE TEMP TABLE bench_moved_t AS SELECT DISTINCT referral_id FROM referrals_referraltransition "
             "WHERE id > %s", [self.marks[0]])
        return _sql(CHECKSUM.format(mark="bench_moved"), self.marks)[0][0]

    def restore(self):
        for table, mark in zip(("referrals_referraltransition", "core_auditevent", "core_notification"),
                               self.marks, strict=True):
            _sql(f"DELETE FROM {table} WHERE id > %s", [mark])
        columns = [row[0] for row in _sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bench_open_referrals' "
            "AND column_name <> 'id'")]
        assignments = ", ".join(f"{c} = s.{c}" for c in columns)
        _sql(f"UPDATE referrals_referral r SET {assignments} FROM bench_open_referrals s "
             "WHERE s.id = r.id AND (r.version, r.overdue_notified_at, r.escalated_at) IS DISTINCT FROM "
             "(s.version, s.overdue_notified_at, s.escalated_at)")
        _sql("VACUUM ANALYZE referrals_referral")


def _iso(column):
    """Python's datetime.isoformat() of a UTC timestamp, as the outbox's
    dedupe keys carry it."""
    return (f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"CASE WHEN extract(microseconds FROM {column})::bigint %% 1000000 <> 0 "
            f"THEN to_char({column} AT TIME ZONE 'UTC', '.US') ELSE '' END || '+00:00'")


def _label():
    """NeedStatus.standard_label().lower(), in SQL."""
    return ("'within ' || s.standard_days || ' ' || CASE WHEN s.day_kind = 'business' THEN 'business' "
            "ELSE 'calendar' END || ' day' || CASE WHEN s.standard_days <> 1 THEN 's' ELSE '' END || ' ' || "
            "CASE WHEN s.counted_from = 'status' THEN 'of entering the status' ELSE 'of the referral' END")


# Who is told of an agency's referrals (accounts.access.referral_workers): its
# members with active HMIS access in a role that works referrals (who may open
# them); never CoC staff.
WORKERS = """
    SELECT DISTINCT organization_id, id, email FROM (
        SELECT a.organization_id, u.id, u.email FROM accounts_hmisaccount a JOIN accounts_user u ON u.id = a.user_id
        JOIN accounts_membership m ON m.user_id = u.id AND m.organization_id = a.organization_id
        WHERE a.status = 'active' AND u.is_active AND NOT u.is_staff
          AND a.hmis_role IN (SELECT hmis_role FROM training_cesrole WHERE works_referrals)) w
    WHERE email <> ''"""


def sweep_floor(now, base: str, batch: int, margin: int, ces_group_id: int, content_type_id: int):
    """The sweep's changes as plain SQL in one transaction (default policy
    statuses: the no-response status is final, so moved referrals get no
    deadline)."""
    from django.db import transaction

    link = "'/referrals/' || r.id || '/'"
    with transaction.atomic():
        _sql("""CREATE TEMP TABLE f_over ON COMMIT DROP AS SELECT id FROM referrals_referral
                WHERE is_open AND overdue_notified_at IS NULL AND due_at <= %s
                ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED""", [now, batch])
        _sql("UPDATE referrals_referral r SET overdue_notified_at = %s FROM f_over o WHERE r.id = o.id", [now])
        _sql(f"""INSERT INTO core_auditevent (actor_id, verb, content_type_id, object_id, object_repr, from_state,
                    to_state, reason, data, created_at)
                SELECT NULL, 'became overdue', %s, r.id::text,
                       left('Referral ' || r.id || ' of client ' || r.hmis_client_id || ' to ' || p.name, 200),
                       '', s.name, '', '{{}}', now()
                FROM f_over o JOIN referrals_referral r ON r.id = o.id
                JOIN onboarding_program p ON p.id = r.program_id JOIN referrals_needstatus s ON s.id = r.status_id""",
             [content_type_id])
        _sql(f"""INSERT INTO core_notification (recipient_id, to_email, subject, body, link, dedupe_key, status,
                    attempts, next_attempt_at, claimed_at, last_error, created_at, sent_at)
                SELECT u.id, u.email, left('Overdue CES referral: ' || p.name, 200),
                       'A referral to ' || p.name || ' has been in “' || s.name || '” past its timeliness standard ('
                       || {_label()} || '). Update its need status.' || E'\\n\\n' || %s || {link},
                       {link}, left('referral-overdue:' || r.id || ':' || {_iso('r.status_entered_at')} || ':'
                       || u.email, 200), 'pending', 0, now(), NULL, '', now(), NULL
                FROM f_over o JOIN referrals_referral r ON r.id = o.id
                JOIN onboarding_program p ON p.id = r.program_id JOIN referrals_needstatus s ON s.id = r.status_id
                JOIN ({WORKERS}) u ON u.organization_id = p.organization_id
                ON CONFLICT (dedupe_key) DO NOTHING""", [base])

        _sql("""CREATE TEMP TABLE f_esc ON COMMIT DROP AS
                SELECT r.id, s.no_response_status_id AS move_to FROM referrals_referral r
                JOIN referrals_needstatus s ON s.id = r.status_id
                WHERE r.is_open AND r.escalated_at IS NULL AND r.escalate_at <= %s
                ORDER BY r.escalate_at, r.id LIMIT %s FOR UPDATE OF r SKIP LOCKED""", [now, batch])
        _sql("UPDATE referrals_referral r SET escalated_at = %s FROM f_esc e WHERE r.id = e.id", [now])
        _sql("""INSERT INTO core_auditevent (actor_id, verb, content_type_id, object_id, object_repr, from_state,
                    to_state, reason, data, created_at)
                SELECT NULL, 'escalated to the CES team', %s, r.id::text,
                       left('Referral ' || r.id || ' of client ' || r.hmis_client_id || ' to ' || p.name, 200),
                       '', s.name, '', '{}', now()
                FROM f_esc e JOIN referrals_referral r ON r.id = e.id
                JOIN onboarding_program p ON p.id = r.program_id JOIN referrals_needstatus s ON s.id = r.status_id""",
             [content_type_id])
        _sql(f"""INSERT INTO core_notification (recipient_id, to_email, subject, body, link, dedupe_key, status,
                    attempts, next_attempt_at, claimed_at, last_error, created_at, sent_at)
                SELECT u.id, u.email,
                       left('Escalated: referral ' || r.id || ' overdue at ' || p.name || ' (' || o.name || ')', 200),
                       'The referral has been in “' || s.name || '” ' || %s || ' business day' || CASE WHEN %s <> 1 THEN 's' ELSE '' END || ' past its standard.'
                       || coalesce(' It was moved to “' || t.name || '”; re-refer the client.', '')
                       || E'\\n\\n' || %s || {link},
                       {link}, left('referral-escalated:' || r.id || ':' || {_iso('r.status_entered_at')} || ':'
                       || u.email, 200), 'pending', 0, now(), NULL, '', now(), NULL
                FROM f_esc e JOIN referrals_referral r ON r.id = e.id
                JOIN onboarding_program p ON p.id = r.program_id JOIN accounts_organization o ON o.id = p.organization_id
                JOIN referrals_needstatus s ON s.id = r.status_id LEFT JOIN referrals_needstatus t ON t.id = e.move_to
                CROSS JOIN (SELECT DISTINCT u.id, u.email FROM accounts_user u
                            JOIN accounts_user_groups g ON g.user_id = u.id
                            WHERE g.group_id = %s AND u.is_active AND u.is_staff AND u.email <> '') u
                ON CONFLICT (dedupe_key) DO NOTHING""", [margin, margin, base, ces_group_id])
        # The policy's move for those whose status names a no-response status.
        _sql("""INSERT INTO referrals_referraltransition (referral_id, from_status_id, to_status_id, actor_id, made_at,
                    note, from_due_at, within_standard, days_in_status)
                SELECT r.id, r.status_id, e.move_to, NULL, %s,
                       'The provider did not respond within the standard for “' || s.name
                       || '” and the escalation margin.',
                       r.due_at, CASE WHEN r.due_at IS NULL THEN NULL ELSE %s < r.due_at END,
                       round((extract(epoch FROM (%s - r.status_entered_at)) / 86400)::numeric, 3)
                FROM f_esc e JOIN referrals_referral r ON r.id = e.id JOIN referrals_needstatus s ON s.id = r.status_id
                WHERE e.move_to IS NOT NULL""", [now, now, now])
        _sql("""INSERT INTO core_auditevent (actor_id, verb, content_type_id, object_id, object_repr, from_state,
                    to_state, reason, data, created_at)
                SELECT NULL, 'changed need status', %s, r.id::text,
                       left('Referral ' || r.id || ' of client ' || r.hmis_client_id || ' to ' || p.name, 200),
                       s.name, t.name, 'The provider did not respond within the standard for “' || s.name
                       || '” and the escalation margin.', '{}', now()
                FROM f_esc e JOIN referrals_referral r ON r.id = e.id
                JOIN onboarding_program p ON p.id = r.program_id JOIN referrals_needstatus s ON s.id = r.status_id
                JOIN referrals_needstatus t ON t.id = e.move_to""", [content_type_id])
        _sql(f"""INSERT INTO core_notification (recipient_id, to_email, subject, body, link, dedupe_key, status,
                    attempts, next_attempt_at, claimed_at, last_error, created_at, sent_at)
                SELECT u.id, u.email, left('Referral returned to the CES team: ' || p.name, 200),
                       'The referral was not updated in time and is now “' || t.name || '”.'
                       || E'\\n\\n' || %s || {link},
                       {link}, left('referral-moved:' || r.id || ':' || {_iso('r.status_entered_at')} || ':'
                       || u.email, 200), 'pending', 0, now(), NULL, '', now(), NULL
                FROM f_esc e JOIN referrals_referral r ON r.id = e.id
                JOIN onboarding_program p ON p.id = r.program_id JOIN referrals_needstatus t ON t.id = e.move_to
                JOIN ({WORKERS}) u ON u.organization_id = p.organization_id
                ON CONFLICT (dedupe_key) DO NOTHING""", [base])
        _sql("""UPDATE referrals_referral r SET status_id = e.move_to, status_entered_at = %s,
                    is_open = NOT t.is_final, due_at = NULL, escalate_at = NULL, overdue_notified_at = NULL,
                    escalated_at = NULL, closed_at = CASE WHEN t.is_final THEN %s::timestamptz END,
                    version = r.version + 1
                FROM f_esc e JOIN referrals_needstatus t ON t.id = e.move_to WHERE r.id = e.id""", [now, now])
        _maintain_moved()


def _maintain_moved():
    from referrals.models import Referral

    if "awaiting_rereferral" in {f.name for f in Referral._meta.get_fields()}:
        _sql("""UPDATE referrals_referral r SET awaiting_rereferral = true FROM f_esc e
                JOIN referrals_needstatus t ON t.id = e.move_to WHERE r.id = e.id AND t.returns_to_matching""")


# What the counts page shows the CES team, in one statement: the open
# referrals per program and need status with their overdue and due-soon
# counts, the names of the program, its agency and the status, and the
# number of clients returned for re-referral.
COUNTS_FLOOR = """
WITH counts AS (
    SELECT program_id, status_id, count(*) AS total, count(*) FILTER (WHERE due_at <= %s) AS overdue,
           count(*) FILTER (WHERE due_at > %s AND due_at <= %s) AS due_soon
    FROM referrals_referral WHERE is_open GROUP BY program_id, status_id
)
SELECT c.program_id, c.status_id, c.total, c.overdue, c.due_soon, p.name, o.name, s.name,
       (SELECT count(*) FROM referrals_referral WHERE awaiting_rereferral)
FROM counts c JOIN onboarding_program p ON p.id = c.program_id
JOIN accounts_organization o ON o.id = p.organization_id JOIN referrals_needstatus s ON s.id = c.status_id
"""


def run(total: int, repeat: int, batch_size: int | None = None, split: bool = True) -> bool:
    import datetime as dt

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from benchmarks import _workers
    from referrals import services
    from referrals.models import Referral, ReferralPolicy

    print(f"\n-- {total:,} referrals", flush=True)
    now = timezone.now().replace(microsecond=0)
    populate(total, now)
    policy = ReferralPolicy.current()
    if batch_size:
        policy.sweep_batch_size = batch_size
        policy.save(update_fields=["sweep_batch_size"])
    ok = True

    # The sweep.
    snapshot = Snapshot()
    base = settings.PORTAL_BASE_URL.rstrip("/")
    ces_group = Group.objects.get(name="CES team").pk
    content_type = ContentType.objects.get_for_model(Referral).pk
    portal_times, floor_times, captured = [], [], None
    portal_sum = floor_sum = None
    with Recorder() as ctx:
        result = services.sweep_timeliness(now=now)  # untimed: what one run does, and its statements
    captured = list(ctx.captured_queries)
    snapshot.restore()
    acted = result["overdue"] + result["escalated"]
    workers = _workers.Workers("referrals.tasks.referral_timeliness_sweep_chunk")
    split = [("in this process", lambda: _split_in_process(now)),
             ("1 worker", lambda: _split_on_workers(workers, 1, now, snapshot, acted)),
             ("2 workers", lambda: _split_on_workers(workers, 2, now, snapshot, acted))] if split else []
    split_times, split_sums = {name: [] for name, _run in split}, {name: set() for name, _run in split}
    with contextlib.ExitStack() as stack:
        if split:
            stack.enter_context(workers)  # stopped when the passes are done, before the page's measures
        for _ in range(repeat):
            start = time.perf_counter()
            services.sweep_timeliness(now=now)
            portal_times.append(time.perf_counter() - start)
            portal_sum = snapshot.checksum()
            snapshot.restore()
            start = time.perf_counter()
            sweep_floor(now, base, policy.sweep_batch_size, policy.escalation_margin_days, ces_group, content_type)
            floor_times.append(time.perf_counter() - start)
            floor_sum = snapshot.checksum()
            snapshot.restore()
            for name, run_split in split:
                split_times[name].append(run_split())
                split_sums[name].add(snapshot.checksum())
                snapshot.restore()
            if portal_sum != floor_sum:
                break
    print(f"  sweep: {result} ({acted:,} referrals acted on; {len(captured)} statements); "
          f"medians of {len(portal_times)} interleaved passes")
    _line("timeliness sweep, one run", statistics.median(portal_times), statistics.median(floor_times), 1.5, total)
    print(f"  peak RSS of this process so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    same = portal_sum == floor_sum
    ok &= same
    print(f"  same changes (md5): {'yes' if same else 'NO'}  portal {portal_sum}  floor {floor_sum}")
    from django.conf import settings as django_settings

    for name, _run in split:
        seconds, same_split = statistics.median(split_times[name]), split_sums[name] == {floor_sum}
        ok &= same_split
        print(f"  split in {django_settings.SWEEP_CHUNKS}, {name:<16} {seconds * 1000:9.1f} ms   "
              f"{seconds / statistics.median(floor_times):5.2f}x the floor, "
              f"{seconds / statistics.median(portal_times):5.2f}x one run   same changes: "
              f"{'yes' if same_split else 'NO'}", flush=True)
    print("  hot sweep statements:")
    statements = [q for q in captured if q["sql"].lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT"))]
    for query in sorted(statements, key=lambda q: -float(q["time"]))[:3]:
        sql = query["sql"]
        print(f"    {float(query['time']) * 1000:.1f} ms: {sql[:160]}{'…' if len(sql) > 160 else ''}")
        print(_explain(sql, query["params"]))

    # The CES team's counts page: every query of the request.
    User = get_user_model()
    ces = User.objects.get(email="matcher0@example.org")
    client = Client()
    client.force_login(ces)
    _verify_second_factor(client, ces)
    url = reverse("referrals:counts")
    soon = now + dt.timedelta(days=policy.due_soon_days)
    page_times, page_sql, request_sql, floor_times = [], [], [], []
    report = floor_rows = None
    # Page and floor in turn; the first of each warms the cache and is left out.
    for _ in range(repeat + 1):
        with Recorder() as ctx:
            start = time.perf_counter()
            response = client.get(url, secure=True)
            page_times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        # The page's own queries (referrals, their programs and statuses);
        # the session, user and group look-ups every page makes are printed
        # apart, in the whole request's figures.
        page_sql.append(sum(float(q["time"]) for q in ctx.captured_queries if _referral_query(q["sql"])))
        request_sql.append(sum(float(q["time"]) for q in ctx.captured_queries))
        report, page_queries = response.context["report"], list(ctx.captured_queries)
        start = time.perf_counter()
        floor_rows = _sql(COUNTS_FLOOR, [timezone.now(), timezone.now(), soon])
        floor_times.append(time.perf_counter() - start)
    # The page counts as of its own moment: compare what it shows (a page of
    # programs: the open totals per program and status, the names, the
    # re-referral count) with the floor's.
    page_totals = {(e.program.pk, r.status.pk): (r.total, e.program.name, e.program.organization.name, r.status.name)
                   for e in _all_entries(report) for r in e.rows}
    floor_totals = {(p, st): (n, program, agency, status) for p, st, n, _o, _d, program, agency, status, _r in floor_rows}
    returned = {"page": response.context["returned_total"], "floor": floor_rows[0][8] if floor_rows else 0}
    _line("CES counts page (SQL)", statistics.median(page_sql[1:]), statistics.median(floor_times[1:]), 2, total)
    _line("CES counts page, whole request", statistics.median(page_times[1:]), statistics.median(floor_times[1:]), 2,
          total)
    print(f"  CES counts page, whole request: {statistics.median(page_times[1:]) * 1000:.1f} ms "
          f"({statistics.median(request_sql[1:]) * 1000:.1f} ms of SQL), "
          f"{len(page_queries)} queries, {len(response.content):,} bytes; "
          f"shows {len(page_totals)} of {len(floor_totals)} program/status rows; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    same_counts = (bool(page_totals) and all(floor_totals.get(k) == v for k, v in page_totals.items())
                   and returned["page"] == returned["floor"])
    print(f"  same counts, names and re-referral count ({returned['page']:,}) as the floor: "
          f"{'yes' if same_counts else 'NO'}")
    ok &= same_counts
    shared_cache_page(url, ces, statistics.median(floor_times[1:]), repeat, total)
    print("  hot page queries:")
    for query in sorted((q for q in page_queries if _referral_query(q["sql"])), key=lambda q: -float(q["time"]))[:3]:
        sql = query["sql"]
        print(f"    {float(query['time']) * 1000:.1f} ms: {sql[:160]}{'…' if len(sql) > 160 else ''}")
        print(_explain(sql, query["params"]))
    print("  floor plan:")
    print(_explain(COUNTS_FLOOR, [now, now, soon]))
    ok &= review_indexes(ces, now, captured, page_queries)
    return ok


def shared_cache_page(url, ces, floor: float, repeat: int, total: int) -> None:
    """The counts page's whole request again as production serves it: the
    session and what every page of a person reads (their standing, the policy
    rows) kept in a cache all processes share, Redis (`BENCH_REDIS_URL`,
    flushed before and after), not read from the database on each request as
    this process's own cache makes it. Against the same floor."""
    redis_url = os.environ.get("BENCH_REDIS_URL")
    if not redis_url:
        print("  (set BENCH_REDIS_URL to measure the page with production's shared cache too)")
        return
    from django.test import Client
    from django.test.utils import override_settings

    from benchmarks.load import _redis_db

    _redis_db(redis_url, "FLUSHDB")
    shared = override_settings(
        CACHES={"default": {"BACKEND": "hmis_portal.core.cache_backend.ResilientRedisCache", "LOCATION": redis_url}},
        SHARED_CACHE=True, SESSION_ENGINE="hmis_portal.core.sessions")
    try:
        with shared:
            client = Client()
            client.force_login(ces)
            _verify_second_factor(client, ces)
            times, queries = [], 0
            for _ in range(repeat + 2):  # the first two warm the cache and are left out
                with Recorder() as ctx:
                    start = time.perf_counter()
                    response = client.get(url, secure=True)
                    times.append(time.perf_counter() - start)
                assert response.status_code == 200, response.status_code
                queries = len(ctx.captured_queries)
    finally:
        _redis_db(redis_url, "FLUSHDB")
    _line("CES counts page, shared cache", statistics.median(times[2:]), floor, 2, total)
    print(f"  CES counts page with the shared cache: {queries} queries")


def review_indexes(ces, now, sweep_queries, page_queries) -> bool:
    """Each index on referrals against the query it is kept for: the plan
    of that query must use it."""
    from django.db import connection
    from django.db.models import F

    from hmis_portal.core.prepared import statement_of
    from referrals import selectors
    from referrals.models import Referral

    def sql_of(queryset):
        return queryset.query.sql_with_params()

    def captured(queries, text):
        # A page's prepared statement (core.prepared) was captured as its EXECUTE: its own text is explained.
        query = next(q for q in queries if text in statement_of(connection, q["sql"]))
        return statement_of(connection, query["sql"]), query["params"]

    uses = {
        "referral_open_counts": ("counts report aggregate", captured(page_queries, "GROUP BY")),
        "referral_open_due": ("overdue list, a page", sql_of(
            selectors.overdue_referrals(ces, now=now).order_by(F("due_at").asc(), "pk")[:51])),
        "referral_closed": ("closed list, a page", sql_of(
            selectors.referral_list(ces, queue="closed").order_by(F("closed_at").desc(), "-pk")[:51])),
        "referral_awaiting_rereferral": ("returned for re-referral, count", sql_of(
            selectors.returned_for_rereferral(ces).values("pk"))),
        "referral_overdue_unnotified": ("sweep: claim the overdue batch", captured(sweep_queries, "SET overdue_")),
        "referral_escalation_pending": ("sweep: claim the escalation batch",
                                        captured(sweep_queries, "SET escalated_at")),
        "referral_client": ("find a client's referrals", sql_of(selectors.referral_list(
            ces, client_id="B12345", queue="closed").order_by(F("closed_at").desc(), "-pk")[:51])),
    }
    declared = {index.name for index in Referral._meta.indexes}
    ok = declared == set(uses)
    print("  indexes and the queries they serve:" + ("" if ok else f" (declared {sorted(declared)})"))
    for name, (label, (sql, params)) in uses.items():
        plan = _explain(sql, params)
        used = name in plan
        ok &= used
        print(f"    {name:<30} {label:<36} {'used' if used else 'NOT USED'}")
        print(plan)
    return ok


def _split_in_process(now) -> float:
    """The job split into chunks with eager tasks: run here, one after the other."""
    from benchmarks import _workers
    from hmis_portal.core import outbox
    from referrals.tasks import referral_timeliness_sweep

    _workers.use_broker("memory://", eager=True)
    try:
        # Held: the messages stay pending, as the one run leaves them.
        with outbox.held():
            start = time.perf_counter()
            referral_timeliness_sweep(at=now.isoformat())
            return time.perf_counter() - start
    finally:
        _workers.queue_in_memory()


def _split_on_workers(workers, count: int, now, snapshot, acted: int) -> float:
    """Seconds from queueing the job's chunks until the last chunk's alerts
    and escalations are committed, with `count` real workers (their start
    and a warm-up chunk with nothing in it not counted)."""
    from benchmarks import _workers
    from referrals.tasks import referral_timeliness_sweep, referral_timeliness_sweep_chunk

    def done():
        return _sql("SELECT count(*) FROM core_auditevent WHERE id > %s AND verb IN "
                    "('became overdue', 'escalated to the CES team')", [snapshot.marks[1]])[0][0] >= acted

    with workers.use(count):
        for _ in range(2 * count):
            referral_timeliness_sweep_chunk.delay(now.isoformat(), [], [])
        workers.wait_idle()
        start = time.perf_counter()
        referral_timeliness_sweep(at=now.isoformat())
        return _workers.seconds_since(start, done, limit=120, what=f"the chunks on {count} worker(s)")


def _referral_query(sql: str) -> bool:
    return any(table in sql for table in ('"referrals_', "referrals_referral", '"onboarding_program"'))


def _all_entries(report):
    return getattr(report, "object_list", report)


def _complete(report):
    paginator = getattr(report, "paginator", None)
    return paginator is None or paginator.num_pages == 1


if __name__ == "__main__":
    sys.exit(main())
