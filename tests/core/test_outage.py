"""Outages of the broker and the mail server never hold up a request or a
worker, and nothing queued during one is lost: it is delivered afterwards."""

import datetime as dt
import time

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from hmis_portal.celery import app
from hmis_portal.core import outbox
from hmis_portal.core.models import AuditEvent, Notification
from hmis_portal.core.tasks import deliver_notification, deliver_pending_notifications
from tests.factories import StaffFactory, UserFactory
from tests.faults import silent_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_at():
    """Point the Celery app at another broker (not eager) for one test."""
    previous = app.conf.broker_url, app.conf.task_always_eager

    def use(url):
        app.conf.broker_url = url
        app.conf.task_always_eager = False
        app._pool = None
        app.amqp._producer_pool = None
        outbox.broker_reset()

    yield use
    app.conf.broker_url, app.conf.task_always_eager = previous
    app._pool = None
    app.amqp._producer_pool = None
    outbox.broker_reset()


def test_a_publish_to_a_broker_that_refuses_returns_at_once(broker_at):
    broker_at("redis://127.0.0.1:1/0")
    started = time.monotonic()
    assert outbox.publish(deliver_notification, (1,)) is False
    assert time.monotonic() - started < 1.0


def test_a_frozen_broker_costs_one_short_timeout_then_is_skipped(broker_at):
    with silent_server() as port:
        broker_at(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        assert outbox.publish(deliver_notification, (1,)) is False
        first = time.monotonic() - started
        # The next twenty changes in this process do not wait for it again.
        assert not any(outbox.publish(deliver_notification, (n,)) for n in range(20))
        total = time.monotonic() - started
    assert first < 2.5
    assert total < first + 0.5


def test_a_change_telling_many_people_publishes_once(monkeypatch, django_capture_on_commit_callbacks):
    published = []
    monkeypatch.setattr(outbox, "publish", lambda task, args=(), **kw: published.append((task.name, args)))
    users = UserFactory.create_batch(22)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            created = outbox.notify(recipients=users, subject="New referral", body="b")
    assert len(created) == 22
    assert [name for name, _ in published] == ["hmis_portal.core.tasks.deliver_notifications"]
    assert sorted(published[0][1][0]) == sorted(m.pk for m in created)


def test_a_broker_outage_leaves_the_change_committed_and_the_messages_pending(
        broker_at, django_capture_on_commit_callbacks):
    broker_at("redis://127.0.0.1:1/0")
    users = UserFactory.create_batch(22)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            outbox.notify(recipients=users, subject="New referral", body="b")
    assert time.monotonic() - started < 1.5
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 22
    assert mail.outbox == []
    # The broker is back (eager here): the delivery job sends each one once.
    app.conf.task_always_eager = True
    deliver_pending_notifications.delay()
    deliver_pending_notifications.delay()
    assert len(mail.outbox) == 22


def test_a_mail_server_that_never_answers_costs_one_email_timeout(settings):
    with silent_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 1
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        [message] = outbox.notify(recipients=["someone@example.org"], subject="s", body="b")
        started = time.monotonic()
        assert outbox.deliver(message.pk) is False
        took = time.monotonic() - started
    assert took < 3
    message.refresh_from_db()
    assert message.status == Notification.Status.PENDING and message.attempts == 1
    assert message.next_attempt_at > timezone.now()


def test_email_timeout_has_a_default_and_follows_the_environment():
    import subprocess
    import sys

    from tests.core.test_operations import clean_env

    code = "import django;django.setup();from django.conf import settings;print(settings.EMAIL_TIMEOUT)"
    base = {**clean_env(), "DJANGO_SETTINGS_MODULE": "hmis_portal.settings", "DEBUG": "true"}
    default = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, check=True)
    chosen = subprocess.run([sys.executable, "-c", code], env={**base, "EMAIL_TIMEOUT": "3"}, capture_output=True,
                            text=True, check=True)
    assert (default.stdout.split()[-1], chosen.stdout.split()[-1]) == ("10", "3")


def test_tasks_have_time_limits_and_are_requeued_when_their_worker_dies():
    from hmis_portal.schedule import JOBS

    conf = app.conf
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    for job in JOBS:
        limits = conf.task_annotations[job.task]
        assert conf.task_soft_time_limit < limits["soft_time_limit"] < limits["time_limit"]
    # The delivery job stops itself well before its soft limit.
    assert outbox.TIME_BUDGET_SECONDS < conf.task_annotations[JOBS[0].task]["soft_time_limit"]
    transport = conf.broker_transport_options
    assert transport["max_retries"] == 0
    assert 0 < transport["socket_timeout"] <= 2 and 0 < transport["socket_connect_timeout"] <= 2


def test_the_delivery_job_drains_the_whole_backlog_in_batches(monkeypatch):
    users = UserFactory.create_batch(3)
    outbox.notify_many([outbox.Message(recipient=users[i % 3], subject=f"Reminder {i}", body="b", link="",
                                       dedupe_key=f"reminder:{i}") for i in range(250)])
    monkeypatch.setattr(outbox, "BATCH_SIZE", 40)
    assert deliver_pending_notifications() == "250 sent of 250 due"
    assert len(mail.outbox) == 250
    assert not Notification.objects.exclude(status=Notification.Status.SENT).exists()


def test_a_delivery_job_out_of_time_queues_itself_again(monkeypatch):
    users = UserFactory.create_batch(5)
    outbox.notify(recipients=users, subject="s", body="b")
    runs = []
    real = outbox.deliver_pending

    def one_at_a_time(**kwargs):
        runs.append(1)
        return real(budget_seconds=0)

    monkeypatch.setattr(outbox, "deliver_pending", one_at_a_time)
    # Eager: the re-queued runs follow one another until nothing is due.
    assert deliver_pending_notifications().startswith("1 sent of 5 due; more queued")
    assert len(mail.outbox) == 5 and len(runs) >= 5


def test_a_message_that_failed_through_a_long_outage_is_sent_after_it(monkeypatch):
    [message] = outbox.notify(recipients=["someone@example.org"], subject="Overdue", body="b")
    now = timezone.now()

    def down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(outbox, "send_mail", down)
    Notification.objects.filter(pk=message.pk).update(attempts=outbox.MAX_ATTEMPTS - 1)
    assert outbox.deliver(message.pk, now=now) is False
    message.refresh_from_db()
    assert message.status == Notification.Status.FAILED
    assert message.next_attempt_at == now + outbox.FAILED_RETRY_EVERY
    monkeypatch.undo()
    assert outbox.deliver_pending(now=now + dt.timedelta(minutes=5))["sent"] == 0
    assert outbox.deliver_pending(now=now + outbox.FAILED_RETRY_EVERY)["sent"] == 1
    message.refresh_from_db()
    assert message.status == Notification.Status.SENT and len(mail.outbox) == 1


def test_retry_now_in_the_admin_makes_messages_due_now_and_leaves_those_being_sent(
        client, django_capture_on_commit_callbacks):
    admin = StaffFactory(groups=["CoC system admin"], is_superuser=True)
    failed, sending = outbox.notify(recipients=["a@example.org", "b@example.org"], subject="s", body="b")
    later = timezone.now() + dt.timedelta(hours=5)
    Notification.objects.filter(pk=failed.pk).update(status=Notification.Status.FAILED, next_attempt_at=later,
                                                     attempts=outbox.MAX_ATTEMPTS)
    Notification.objects.filter(pk=sending.pk).update(status=Notification.Status.SENDING, claimed_at=timezone.now())
    client.force_login(admin)
    page = client.get("/admin/core/notification/")
    assert page.status_code == 200
    assert "Failed: <strong>1</strong>" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/core/notification/", {
            "action": "retry_now", "_selected_action": [failed.pk, sending.pk]})
    assert response.status_code == 302
    failed.refresh_from_db()
    sending.refresh_from_db()
    assert failed.status == Notification.Status.SENT
    assert [m.to for m in mail.outbox] == [["a@example.org"]]
    assert sending.status == Notification.Status.SENDING
    event = AuditEvent.objects.get(verb="notification retried")
    assert (event.actor, event.object_id, event.from_state) == (admin, str(failed.pk), "failed")


def test_retry_now_makes_a_message_due_at_once(monkeypatch):
    [message] = outbox.notify(recipients=["a@example.org"], subject="s", body="b")
    Notification.objects.filter(pk=message.pk).update(status=Notification.Status.FAILED,
                                                      next_attempt_at=timezone.now() + dt.timedelta(days=1))
    monkeypatch.setattr(outbox, "publish", lambda *a, **k: False)  # broker down: left to the delivery job
    with transaction.atomic():
        assert outbox.retry_now(actor=None, ids=[message.pk]) == 1
    message.refresh_from_db()
    assert message.status == Notification.Status.PENDING and message.next_attempt_at <= timezone.now()


def test_a_hanging_mail_server_holds_a_batch_for_one_timeout_not_one_per_message(settings):
    users = UserFactory.create_batch(22)
    created = outbox.notify(recipients=users, subject="New referral", body="b")
    with silent_server() as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 1
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        started = time.monotonic()
        assert outbox.deliver_batch([m.pk for m in created]) == 0
        batch_took = time.monotonic() - started
        started = time.monotonic()
        result = outbox.deliver_pending()
        run_took = time.monotonic() - started
    assert batch_took < 2.5
    # The delivery job gives up after a few failures in a row, and does not re-queue itself.
    assert result == {"due": 21, "sent": 0, "more": False} and run_took < outbox.STOP_AFTER_FAILURES + 2
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 22
    assert Notification.objects.filter(attempts=1).count() == 1 + outbox.STOP_AFTER_FAILURES


def test_a_task_out_of_time_puts_its_message_back_and_stops(monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    first, second = outbox.notify(recipients=["a@example.org", "b@example.org"], subject="s", body="b")

    def out_of_time(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(outbox, "send_mail", out_of_time)
    with pytest.raises(SoftTimeLimitExceeded):
        outbox.deliver_batch([first.pk, second.pk])
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert statuses == {first.pk: Notification.Status.PENDING, second.pk: Notification.Status.PENDING}
