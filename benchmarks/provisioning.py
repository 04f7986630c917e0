"""The inactivity sweep's deactivations reaching the HMIS over SCIM 2.0.

Creates a scratch PostgreSQL database next to DATABASE_URL's with --accounts
HMIS accounts that have had no login for 31 days (the daily sweep makes each
Inactive) and --active accounts that logged in two days ago (they stay
Active), and starts a local `scim2-server` process (the python-scim
project's, in memory, bearer token, a spare port) that already holds every
one of them as an active user: seeded with SCIM Bulk, and the portal's
outbox holds their creates as delivered (the user's id in the HMIS, as a
grant leaves it). The seeding is not timed. Then it reports:

- the sweep (`hmis_accounts.sweep.run_inactivity_sweep`) with a provisioning
  target configured, which writes one `active=false` command per account made
  Inactive in each batch's transaction and calls nobody, against its floor:
  the plain set-based SQL of `benchmarks.accounts` that makes the sweep's
  changes, plus one INSERT … SELECT of the commands. Medians of --repeat
  interleaved passes from the same data; the rows each writes are compared
  (md5 over the accounts, audit events, outbox and provisioning commands);
- the delivery of those commands to the server (`provisioning.deliver_pending`,
  in this process, run after run until nothing is due): commands per second;
- a check that the server ends with exactly the portal's active set: the
  userNames active in the server are the usernames of the portal's Active
  accounts, and the server holds no other user.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hmis .venv/bin/python -m benchmarks.provisioning [--accounts N]
"""

import argparse
import logging
import signal
import statistics
import sys
import time

from benchmarks import _workers
from benchmarks import accounts as bench

ORGANIZATIONS = 100
IDLE_DAYS = 31  # past the policy's inactivity limit (30), short of retraining (90)
BULK_OPERATIONS = 1000  # scim2-server's maxOperations


def _fill(inactive: int, active: int, today) -> None:
    """Set-based: agencies with an administrator each, then the accounts:
    the first `inactive` idle for IDLE_DAYS, the rest logged in two days ago."""
    n = inactive + active
    bench._sql("""INSERT INTO accounts_organization (name, slug, created_at)
                  SELECT 'Bench Agency ' || g, 'bench-agency-' || g, now() FROM generate_series(1, %s) g""",
               [ORGANIZATIONS])
    bench._sql("""INSERT INTO accounts_user (password, is_superuser, email, full_name, is_staff, is_active,
                                             date_joined)
                  SELECT '!', false, 'pbench' || g || '@example.org', 'Bench User ' || g, false, true, now()
                  FROM generate_series(1, %s) g""", [n + ORGANIZATIONS])
    bench._sql("""INSERT INTO accounts_membership (user_id, organization_id, persona, created_at)
                  SELECT u.id, o.id, 'agency_administrator', now()
                  FROM accounts_user u JOIN accounts_organization o
                    ON o.slug = 'bench-agency-' || (substring(u.email from 'pbench(\\d+)@')::int - %s)
                  WHERE substring(u.email from 'pbench(\\d+)@')::int > %s""", [n, n])
    bench._sql("""
        WITH g AS (SELECT g, CASE WHEN g <= %(inactive)s THEN %(idle)s ELSE 2 END AS days
                   FROM generate_series(1, %(n)s) g),
             o AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM accounts_organization)
        INSERT INTO accounts_hmisaccount (
            user_id, organization_id, hmis_username, hmis_role, status, provisioned_at, last_hmis_login_at,
            inactivity_counted_from, retraining_counted_from, must_log_in_by, reactivated_at, inactive_since,
            inactive_reason, retraining_required, retraining_required_on, login_reminders, calendar_token)
        SELECT u.id, o.id, 'pbench' || g.g, 'CES_Standard', 'active',
               (%(today)s::date - 400)::timestamp AT TIME ZONE %(tz)s,
               ((%(today)s::date - g.days) + time '10:00') AT TIME ZONE %(tz)s,
               %(today)s::date - g.days, %(today)s::date - g.days, NULL, NULL, NULL, '', false, NULL, false,
               md5('p' || g.g)
        FROM g JOIN accounts_user u ON u.email = 'pbench' || g.g || '@example.org'
               JOIN o ON o.k = g.g %% %(orgs)s
    """, {"inactive": inactive, "idle": IDLE_DAYS, "n": n, "today": today, "tz": bench._tz(),
          "orgs": ORGANIZATIONS})


def _fetch(statement, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall()


class _Server:
    """The local scim2-server, read and seeded in plain JSON over HTTP
    (independent of the portal's own client)."""

    def __init__(self):
        from tests.scim_server import ScimServer

        self.server = ScimServer().start()

    def stop(self) -> None:
        self.server.stop()

    def bulk(self, operations: list[dict]) -> list[dict]:
        answer = self.server.request("POST", "/Bulk", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations}, timeout=300)
        return answer.get("Operations", [])

    def users(self) -> list[dict]:
        """Every user, a page of 1,000 at a time."""
        found, start = [], 1
        while True:
            page = self.server.request("GET", f"/Users?startIndex={start}&count=1000", timeout=300)
            resources = page.get("Resources", [])
            found += resources
            start += len(resources)
            if not resources or start > page.get("totalResults", 0):
                return found


def _seed(server: _Server) -> int:
    """Every account as an active user of the server (SCIM Bulk POSTs), and
    its create in the portal's outbox as delivered, with the user's id there."""
    rows = _fetch("SELECT id, hmis_username FROM accounts_hmisaccount ORDER BY id")
    for start in range(0, len(rows), BULK_OPERATIONS):
        chunk = rows[start:start + BULK_OPERATIONS]
        answers = server.bulk([{
            "method": "POST", "path": "/Users", "bulkId": str(pk),
            "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                     "externalId": str(pk), "active": True}} for pk, name in chunk])
        created = {a["bulkId"]: a["location"].rstrip("/").rsplit("/", 1)[1]
                   for a in answers if str(a.get("status")) == "201"}
        if len(created) != len(chunk):
            raise RuntimeError(f"the SCIM server created {len(created)} of {len(chunk)} users: {answers[:3]}")
        marks = ", ".join(["(%s, %s, %s)"] * len(chunk))
        bench._sql(f"""INSERT INTO core_provisioningcommand (subject, kind, payload, dedupe_key, status, attempts,
                                                             next_attempt_at, claimed_at, last_error, remote_id,
                                                             created_at, done_at)
                       SELECT v.subject, 'create', jsonb_build_object('user_name', v.name, 'active', true),
                              'create:' || v.subject, 'done', 1, now(), NULL, '', v.remote_id, now(), now()
                       FROM (VALUES {marks}) v (subject, name, remote_id)""",
                   [value for pk, name in chunk for value in (str(pk), name, created[str(pk)])])
    return len(rows)


def _snapshot() -> None:
    bench._sql("CREATE TABLE bench_accounts AS SELECT * FROM accounts_hmisaccount")
    bench._sql("CREATE TABLE bench_commands AS SELECT * FROM core_provisioningcommand")
    bench._sql("VACUUM (ANALYZE)")


def _restore() -> None:
    bench._sql("TRUNCATE core_auditevent, core_notification, core_provisioningcommand")
    bench._sql("TRUNCATE accounts_hmisaccount CASCADE")
    bench._sql("INSERT INTO accounts_hmisaccount SELECT * FROM bench_accounts")
    bench._sql("INSERT INTO core_provisioningcommand SELECT * FROM bench_commands")
    bench._sql("VACUUM (ANALYZE) accounts_hmisaccount, core_provisioningcommand")


def _outcome() -> dict:
    """`benchmarks.accounts`' md5s, and the provisioning commands' (ids and
    moments of insertion left out)."""
    found = bench._outcome()
    [row] = _fetch("""SELECT md5(string_agg(x, ',' ORDER BY x)), count(*) FROM (
                            SELECT concat_ws('|', subject, kind, payload::text, dedupe_key, status, attempts,
                                   claimed_at, last_error, remote_id) x FROM core_provisioningcommand) c""")
    found["provisioning commands"] = tuple(row)
    return found


def _floor(at, today) -> None:
    """The sweep's changes as plain set-based SQL: `benchmarks.accounts`'
    statements, then the deactivations as one INSERT … SELECT over the
    accounts they made Inactive (its temporary table `changed`)."""
    from hmis_accounts.services import inactive_command_key_prefix

    bench._plain_sql(at, today)
    bench._sql("""INSERT INTO core_provisioningcommand (subject, kind, payload, dedupe_key, status, attempts,
                                                         next_attempt_at, claimed_at, last_error, remote_id,
                                                         created_at, done_at)
                  SELECT c.id::text, 'deactivate', '{"active": false}'::jsonb,
                         CAST(%s AS text) || c.id, 'pending', 0, now(), NULL, '', '', now(), NULL
                  FROM changed c WHERE c.kind IN ('lapsed', 'idle')""", [inactive_command_key_prefix(at=at)])


def _deliver(limit: float) -> tuple[float, int, int, int]:
    """Delivery runs one after the other until nothing is due: (seconds,
    commands sent, not sent, runs)."""
    from hmis_portal.core import provisioning

    sent = failed = runs = 0
    started = time.perf_counter()
    while True:
        result = provisioning.deliver_pending()
        runs += 1
        sent, failed = sent + result["sent"], failed + result["failed"]
        if not result["due"]:
            return time.perf_counter() - started, sent, failed, runs
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"the delivery did not finish within {limit:.0f} s ({sent} sent)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts the sweep makes Inactive (10,000)")
    parser.add_argument("--active", type=int, default=1_000, help="accounts that stay Active (1,000)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved passes of the sweep and its floor")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)[0]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config, scratch = bench._configure("_provisioning_bench")
    server = None
    try:
        server = _Server()
        failed = _run(server, inactive=args.accounts, active=args.active, repeat=max(1, args.repeat))
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            bench._drop(config, scratch)
    if failed:
        raise SystemExit(1)


def _run(server: _Server, *, inactive: int, active: int, repeat: int) -> bool:
    """The measures; True when a check fails."""
    import datetime as dt

    from django.conf import settings

    from hmis_accounts.sweep import BATCH_SIZE, run_inactivity_sweep
    from hmis_portal.core import provisioning
    from hmis_portal.core.calendar import local_date, start_of_day
    from tests.scim_server import TOKEN

    settings.HMIS_SCIM_URL, settings.HMIS_SCIM_TOKEN = server.server.url, TOKEN
    # One line per SCIM request would bury the figures.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    print(f"\nMigrating a scratch database and creating {inactive + active:,} HMIS accounts…", flush=True)
    bench._reset_database()
    _workers.queue_in_memory()
    today = local_date()
    at = start_of_day(today) + dt.timedelta(minutes=5)
    started = time.perf_counter()
    _fill(inactive, active, today)
    seeded = _seed(server)
    _snapshot()
    print(f"  data created and {seeded:,} users seeded in the SCIM server ({server.server.url}) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)

    def one_run():
        started = time.perf_counter()
        run_inactivity_sweep(at=at)
        return time.perf_counter() - started

    # The portal's pass last: its outbox is what the delivery then sends.
    passes = [("floor (set-based SQL)", lambda: bench._timed(lambda: _floor(at, today))),
              (f"sweep (batches of {BATCH_SIZE:,})", one_run)]
    seconds = {name: [] for name, _pass in passes}
    outcomes = {name: [] for name, _pass in passes}
    for _round in range(repeat):
        for name, run in passes:
            _restore()
            seconds[name].append(run())
            outcomes[name].append(_outcome())
    floor_name, sweep_name = (name for name, _pass in passes)
    floor = outcomes[floor_name][0]
    same = {name: all(found == floor for found in found_all) for name, found_all in outcomes.items()}
    floor_s, sweep_s = (statistics.median(seconds[name]) for name, _pass in passes)
    commands = outcomes[sweep_name][-1]["provisioning commands"][1] - seeded
    print(f"\nInactivity sweep over {inactive + active:,} accounts with an HMIS target: {inactive:,} to make "
          f"Inactive, {commands:,} active=false commands written")
    print(f"  medians of {repeat} interleaved passes, each from the same data (2 cores shared):")
    for name, _pass in passes:
        print(f"  {name:<30} {bench._spread(seconds[name]):>20} s  same rows as the floor: "
              f"{'yes' if same[name] else 'NO'}")
    print(f"  ratio sweep / floor: {sweep_s / floor_s:.2f}x (goal <= 1.5x)")
    print("  rows (md5 over accounts, audit events, outbox, provisioning commands; ids and insertion moments "
          "left out):")
    bench._print_rows(outcomes[sweep_name][-1], floor)

    took, sent, not_sent, runs = _deliver(limit=120.0 + commands / 20)
    print(f"\nDelivery to the SCIM server ({runs} run{'s' if runs != 1 else ''} of deliver_pending, in this "
          f"process, SCIM Bulk of up to {provisioning.BATCH_SIZE} commands): {sent:,} sent, {not_sent:,} not, "
          f"in {took:.2f} s: {sent / took if took else 0:,.0f} commands/s")

    users = server.users()
    in_server = {u["userName"] for u in users if u.get("active")}
    in_portal = {row[0] for row in _fetch(
        "SELECT hmis_username FROM accounts_hmisaccount WHERE status = 'active'")}
    left = _fetch("SELECT count(*) FROM core_provisioningcommand WHERE status <> 'done'")[0][0]
    exact = in_server == in_portal and len(users) == seeded and left == 0
    print(f"  check: the server's active users are exactly the portal's Active accounts: "
          f"{'yes' if exact else 'NO'} ({len(in_server):,} active in the server of {len(users):,}, "
          f"{len(in_portal):,} Active in the portal; {left} command{'s' if left != 1 else ''} not delivered)",
          flush=True)
    if not exact:
        print(f"    active in the server only: {sorted(in_server - in_portal)[:10]}; "
              f"Active in the portal only: {sorted(in_portal - in_server)[:10]}")
    return not all(same.values()) or not exact or sent != commands


if __name__ == "__main__":
    main(sys.argv[1:])
