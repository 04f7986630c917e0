import datetime as dt

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from hmis_portal.core import outbox
from hmis_portal.core.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_message_is_written_in_the_transaction_and_sent_after_commit(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            [message] = outbox.notify(recipients=[user], subject="Agreement returned", body="Please re-upload.",
                                      link="/onboarding/")
            assert mail.outbox == []  # nothing leaves before the change commits
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert message.status == Notification.Status.SENT
    assert [m.to for m in mail.outbox] == [[user.email]]
    assert mail.outbox[0].body.endswith("http://localhost:8000/onboarding/")


def test_a_rolled_back_change_sends_nothing(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                outbox.notify(recipients=[user], subject="s", body="b")
                raise RuntimeError("the change failed")
    assert Notification.objects.count() == 0
    assert mail.outbox == []


def test_a_dedupe_key_writes_each_recipient_once():
    first, second = UserFactory(), UserFactory()
    outbox.notify(recipients=[first, second], subject="Overdue", body="b", dedupe_key="overdue:1:2026-11-23")
    again = outbox.notify(recipients=[first, second, first], subject="Overdue", body="b",
                          dedupe_key="overdue:1:2026-11-23")
    assert again == []
    assert Notification.objects.count() == 2


def test_delivering_twice_sends_once():
    # Inside a test transaction nothing commits, so the message waits for a delivery.
    [message] = outbox.notify(recipients=["someone@example.org"], subject="s", body="b")
    assert outbox.deliver(message.pk) is True
    assert outbox.deliver(message.pk) is False
    assert len(mail.outbox) == 1


def test_a_failed_send_is_retried_later_and_then_sent_once(monkeypatch):
    [message] = outbox.notify(recipients=["someone@example.org"], subject="s", body="b")
    now = timezone.now()

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr(outbox, "send_mail", broken)
    assert outbox.deliver(message.pk, now=now) is False
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Notification.Status.PENDING, 1)
    assert message.next_attempt_at > now and "SMTP server down" in message.last_error
    # Not due yet: the delivery job leaves it alone.
    assert outbox.deliver_pending(now=now) == {"due": 0, "sent": 0, "more": False}
    monkeypatch.undo()
    later = message.next_attempt_at + dt.timedelta(seconds=1)
    assert outbox.deliver_pending(now=later) == {"due": 1, "sent": 1, "more": False}
    assert outbox.deliver_pending(now=later) == {"due": 0, "sent": 0, "more": False}
    assert len(mail.outbox) == 1


def test_a_message_whose_worker_died_mid_send_is_picked_up_again():
    [message] = outbox.notify(recipients=["someone@example.org"], subject="s", body="b")
    stale = timezone.now() - outbox.CLAIM_TIMEOUT - dt.timedelta(minutes=1)
    Notification.objects.filter(pk=message.pk).update(status=Notification.Status.SENDING, claimed_at=stale)
    assert outbox.deliver_pending() == {"due": 1, "sent": 1, "more": False}
    assert len(mail.outbox) == 1


@pytest.mark.postgres
def test_the_dedupe_key_has_only_its_unique_index():
    """Every query on the key is an equality or a conflict (the unique index
    serves both): no pattern-matching `_like` copy for every insert to keep up."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'core_notification' "
                       "AND indexdef LIKE '%%(dedupe_key%%'")
        indexes = dict(cursor.fetchall())
        assert list(indexes) == ["core_notification_dedupe_key_key"], indexes
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT 1 FROM core_notification WHERE dedupe_key = 'k' LIMIT 1")
        assert "core_notification_dedupe_key_key" in " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN INSERT INTO core_notification (to_email, subject, body, link, dedupe_key, status, "
                       "attempts, next_attempt_at, last_error, created_at) VALUES ('a@example.org', 's', 'b', '', "
                       "'k', 'pending', 0, now(), '', now()) ON CONFLICT (dedupe_key) DO NOTHING")
        assert "Conflict Arbiter Indexes: core_notification_dedupe_key_key" in [
            row[0].strip() for row in cursor.fetchall()]
