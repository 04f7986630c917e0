"""The set-based writes every sweep shares: claim a bounded batch, write its
audit events and its outbox rows, on PostgreSQL and SQLite alike; and no app
writes that SQL again for itself."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from hmis_portal.core import bulk
from hmis_portal.core.models import AuditEvent, Notification

pytestmark = pytest.mark.django_db
OUTBOX = Notification._meta.db_table
ROOT = Path(__file__).resolve().parents[2]


def _messages(count):
    start = timezone.now() - dt.timedelta(hours=1)
    return [Notification.objects.create(to_email=f"person{n}@example.org", subject=f"Message {n}", body="Hello",
                                        next_attempt_at=start + dt.timedelta(minutes=count - n))
            for n in range(count)]


def test_a_claim_takes_a_bounded_batch_first_in_order_and_returns_what_it_changed():
    messages = _messages(5)
    now = timezone.now()
    due = bulk.Sql("status = %s AND claimed_at IS NULL", (Notification.Status.PENDING,))
    changes = bulk.Sql("claimed_at = %s, attempts = attempts + 1", (bulk.moment(now),))

    first = bulk.claim(OUTBOX, due=due, order="next_attempt_at, id", size=2, changes=changes,
                       returning=("id", "attempts"), carry=("last_error", "attempts"))
    # The latest messages are due first (they were written earliest); the
    # carried attempts are as they were before the change.
    assert first == sorted([(messages[4].pk, 1, "", 0), (messages[3].pk, 1, "", 0)])
    second = bulk.claim(OUTBOX, due=due, order="next_attempt_at, id", size=2, changes=changes)
    assert second == sorted([(messages[2].pk,), (messages[1].pk,)])
    assert Notification.objects.filter(claimed_at__isnull=True).get() == messages[0]
    # A chunk: only the ids it names.
    chunk = bulk.claim(OUTBOX, due=bulk.all_of(due, bulk.among("id", [messages[0].pk, messages[1].pk]),
                                               "attempts = 0"),
                       order="next_attempt_at, id", size=10, changes=changes)
    assert chunk == [(messages[0].pk,)]
    assert bulk.claim(OUTBOX, due=due, order="next_attempt_at, id", size=10, changes=changes, carry=("id",)) == []


def test_a_change_takes_ids_or_a_batch_and_leaves_rows_that_already_moved():
    messages = _messages(4)
    now = timezone.now()
    allowed = bulk.Sql("status = %s", (Notification.Status.PENDING,))
    changes = bulk.Sql("status = %s, claimed_at = %s", (Notification.Status.SENDING, bulk.moment(now)))
    ids = [messages[3].pk, messages[0].pk]
    assert bulk.change(OUTBOX, ids, allowed=allowed, changes=changes,
                       returning=("id", "status")) == sorted((pk, "sending") for pk in ids)
    # Again: they have moved, nothing changes.
    assert bulk.change(OUTBOX, ids, allowed=allowed, changes=changes) == []
    assert bulk.change(OUTBOX, [], allowed=allowed, changes=changes) == []
    # A batch: the statement claims the first due rows in order, carrying a column as it was.
    batch = bulk.Batch(due=bulk.Sql("attempts = %s", (0,)), order="next_attempt_at, id", size=1, carry=("status",))
    assert bulk.change(OUTBOX, batch, allowed=allowed, changes=changes) == [(messages[2].pk, "pending")]
    assert set(Notification.objects.filter(status=Notification.Status.PENDING).values_list("pk", flat=True)) == {
        messages[1].pk}


def test_events_are_written_one_per_id_with_their_subjects_names():
    messages = _messages(3)
    ids = [messages[2].pk, messages[0].pk]
    content_type = ContentType.objects.get_for_model(Notification).pk
    written = bulk.insert_events(
        source=f"{OUTBOX} n", key="n.id", ids=ids, content_type=content_type, verb="held back",
        object_repr=bulk.Sql("%s || n.to_email", ("To ",)), from_state=bulk.Sql("n.status"), to_state="held",
        reason="Checked by hand.", ordered=True)
    assert written == 2
    events = list(AuditEvent.objects.order_by("pk").values_list(
        "actor_id", "verb", "content_type_id", "object_id", "object_repr", "from_state", "to_state", "reason", "data"))
    assert events == [(None, "held back", content_type, str(pk), f"To person{n}@example.org", "pending", "held",
                       "Checked by hand.", {}) for n, pk in sorted([(2, ids[0]), (0, ids[1])], key=lambda r: r[1])]
    assert bulk.insert_events(source=f"{OUTBOX} n", key="n.id", ids=[], content_type=content_type, verb="none",
                              object_repr=bulk.Sql("n.to_email")) == 0


def test_messages_are_written_once_per_dedupe_key_and_only_the_new_ones_returned():
    people = bulk.values([(7, "ana@example.org"), (8, "ben@example.org")])
    subjects = bulk.values([(7, "A" * 250)])

    def send():
        return bulk.insert_notifications(
            source=bulk.Sql(f"{people.text} p LEFT JOIN {subjects.text} s ON s.column1 = p.column1",
                            (*people.params, *subjects.params)),
            where=bulk.Sql("p.column2 <> %s", ("",)), recipient=bulk.Sql("NULL"), email=bulk.Sql("p.column2"),
            subject=bulk.Sql("COALESCE(s.column2, %s)", ("Hello",)), body=bulk.Sql("%s || p.column2", ("Dear ",)),
            link="/x/", dedupe_key=bulk.Sql("%s || p.column2", ("greeting:",)), order="p.column1")

    new = send()
    assert len(new) == 2 and send() == []
    rows = {n.to_email: n for n in Notification.objects.filter(pk__in=new)}
    assert rows["ana@example.org"].subject == "A" * 200 and rows["ben@example.org"].subject == "Hello"
    assert rows["ben@example.org"].body == "Dear ben@example.org"
    assert rows["ana@example.org"].dedupe_key == "greeting:ana@example.org"
    assert {n.status for n in rows.values()} == {Notification.Status.PENDING}
    # Without a dedupe key, every run writes its messages.
    again = bulk.insert_notifications(
        source=bulk.Sql(f"{people.text} p", people.params), where=bulk.Sql("1 = 1"), recipient=bulk.Sql("NULL"),
        email=bulk.Sql("p.column2"),
        subject="Note", body="Body", link="", dedupe_key=None)
    assert len(again) == 2 and Notification.objects.filter(dedupe_key__isnull=True).count() == 2


def test_days_since_and_isoformat_agree_with_python():
    entered = dt.datetime(2026, 1, 5, 18, 0, 0, 250000, tzinfo=dt.UTC)
    at = dt.datetime(2026, 1, 7, 6, 0, tzinfo=dt.UTC)
    message = Notification.objects.create(to_email="a@example.org", subject="s", body="b")
    Notification.objects.filter(pk=message.pk).update(created_at=entered)
    since = bulk.days_since("created_at", at)
    (days, text), = bulk.execute(
        bulk.Sql(f"SELECT {since.text}, {bulk.isoformat('created_at')} FROM {OUTBOX} WHERE id = %s",
                 (*since.params, message.pk)))
    assert float(days) == round((at - entered).total_seconds() / 86400, 3)
    assert text == entered.isoformat()


# Statements that belong to hmis_portal.core.bulk alone; migrations may ask
# which database they run on.
OWN_SQL = [r"FOR UPDATE SKIP LOCKED",
           r"INSERT INTO \{?(EVENTS|OUTBOX|WEBHOOKS|core_auditevent|core_notification|core_webhookdelivery)",
           r"connection\.vendor", r"adapt_datetimefield_value", r"has_select_for_update_skip_locked"]


def test_no_app_writes_its_own_claim_event_or_outbox_sql():
    found = []
    for app in ("accounts", "onboarding", "training", "hmis_access", "hmis_accounts", "referrals", "partnerships"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            found += [f"{path.relative_to(ROOT)}: {pattern}" for pattern in OWN_SQL if re.search(pattern, text)]
    assert found == []
