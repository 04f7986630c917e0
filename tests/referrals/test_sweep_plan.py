"""The plan of the sweep's message insert on PostgreSQL: a batch's messages
cost its own referrals, whatever the programs' history.

The statement joins the referrals to two small in-query lists (the texts per
program and status, the people to tell). The planner estimates such a list
at a handful of rows; left to itself it may start from the list and read,
for each of its rows, every referral of that program (years of closed
referrals) to find the few of the batch. The batch's ids come first instead:
the referrals are read by primary key, one row per id."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from hmis_portal.core.models import Notification
from referrals import services
from referrals.models import NeedStatus, Referral
from tests.referrals.factories import ProgramFactory, matcher, status

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
REFERRAL = Referral._meta.db_table
HISTORY = 2_000  # referrals per program, most of them closed
BATCH = 3_000


def _history(programs, now):
    """The programs' referrals as a running CoC has them, inserted set-based
    and interleaved (referred over years, to every program in turn): nine in
    ten closed, the rest open."""
    matched = status("matched")
    closed = list(NeedStatus.objects.filter(is_final=True).order_by("pk").values_list("pk", flat=True))
    ids = [program.pk for program in programs]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {REFERRAL} (program_id, hmis_client_id, contact_name, contact_phone, contact_email, "
            "contact_notes, status_id, status_entered_at, referred_at, is_open, due_at, escalate_at, "
            "overdue_notified_at, escalated_at, closed_at, transfer_reason, version, awaiting_rereferral) "
            "SELECT (%s::int[])[1 + g %% %s], 'H' || g, 'Client', '555-0100', '', '', "
            "CASE WHEN g %% 10 = 0 THEN %s ELSE (%s::int[])[1 + g %% %s] END, "
            "%s - g * interval '1 minute', %s - g * interval '1 minute', g %% 10 = 0, "
            "CASE WHEN g %% 10 = 0 THEN %s - interval '5 days' END, "
            "CASE WHEN g %% 10 = 0 THEN %s - interval '1 day' END, NULL, NULL, "
            "CASE WHEN g %% 10 <> 0 THEN %s - g * interval '1 minute' END, '', 1, FALSE "
            "FROM generate_series(1, %s) AS g",
            [ids, len(ids), matched.pk, closed, len(closed), now, now, now, now, now, HISTORY * len(ids)])
        # The batch: open referrals that reached the escalation margin and
        # were just claimed.
        cursor.execute(
            f"UPDATE {REFERRAL} SET escalated_at = %s WHERE id IN (SELECT id FROM {REFERRAL} "
            "WHERE is_open ORDER BY id LIMIT %s) RETURNING id", [now, BATCH])
        batch = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(f"ANALYZE {REFERRAL}")
    return batch


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_the_escalation_messages_read_the_batchs_referrals_by_id_not_the_programs_history():
    now = dt.datetime(2026, 3, 2, 18, tzinfo=dt.timezone.utc)
    programs = [ProgramFactory() for _ in range(30)]
    ids = _history(programs, now)
    assert len(ids) == BATCH
    matched = status("matched")
    team = [(0, person.pk, person.email) for person in [matcher() for _ in range(5)]]
    # As the sweep writes them: a text per program and status of the batch,
    # every one for all of the CES team (agency 0).
    texts = [(program.pk, need.pk, 0, "Escalated: referral {id} overdue", "The referral is overdue.")
             for program in programs for need in NeedStatus.objects.filter(is_final=False).order_by("pk")]

    reads = services.Reads()
    with transaction.atomic():
        sid = transaction.savepoint()
        with CaptureQueriesContext(connection) as captured:
            new = services.tell_about_referrals(ids=ids, texts=texts, recipients=team, reads=reads,
                                                key="referral-escalated", messages=[])
        assert len(new) == BATCH * len(team)
        [insert] = [q["sql"] for q in captured.captured_queries
                    if f"INSERT INTO {Notification._meta.db_table}" in q["sql"]]
        transaction.savepoint_rollback(sid)

        # The same statement, run for its plan and rolled back.
        sid = transaction.savepoint()
        with connection.cursor() as cursor:
            # A test's table is small enough to read whole; a CoC's is not.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + insert)
            [[plan]] = cursor.fetchone()
        transaction.savepoint_rollback(sid)

    scans = [node for node in _nodes(plan["Plan"]) if node.get("Relation Name") == REFERRAL]
    assert scans, plan
    read = sum((node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"] for node in scans)
    # One referral row per id of the batch, never the program's history.
    assert read <= BATCH, (read, [(n["Node Type"], n.get("Index Name"), n["Actual Loops"]) for n in scans])
    # … found by its primary key (an index scan, or a bitmap of the index).
    indexes = {node.get("Index Name") or next(n.get("Index Name") for n in _nodes(node) if "Index Name" in n)
               for node in scans}
    assert indexes == {f"{REFERRAL}_pkey"}, indexes
