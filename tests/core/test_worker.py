"""A real Celery worker against Redis: the outbox delivers through it, and a
message queued while the broker is down is delivered once it is back, once."""

import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction

from hmis_portal.celery import app
from hmis_portal.core import outbox
from hmis_portal.core.models import Notification
from hmis_portal.core.tasks import deliver_pending_notifications

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
# Nothing listens on port 1: a broker that is down.
DOWN_BROKER = "redis://127.0.0.1:1/0"


def use_broker(url):
    app.conf.broker_url = url
    app.conf.task_always_eager = False
    # Forget the pools bound to the previous broker (kombu keeps one per URL).
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_broker():
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.ping()  # fails loudly when Redis is not running: .ci/run starts it
    client.flushdb()
    previous = app.conf.broker_url, app.conf.task_always_eager
    use_broker(REDIS_TEST_URL)
    # A broker failure an earlier test recorded would skip this test's
    # publishes for the backoff's 30 s: nothing would reach the worker.
    outbox.broker_reset()
    yield client
    use_broker(previous[0])
    app.conf.task_always_eager = previous[1]
    outbox.broker_reset()
    client.flushdb()


def wait_until(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def sent(pk):
    return Notification.objects.filter(pk=pk, status=Notification.Status.SENT).exists()


def test_a_real_worker_delivers_a_message_queued_on_commit(redis_broker):
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        with transaction.atomic():
            [message] = outbox.notify(recipients=["agency@example.org"], subject="Setup complete", body="Confirm it.")
        assert wait_until(lambda: sent(message.pk)), "the worker did not deliver the message"
    assert [m.subject for m in mail.outbox] == ["Setup complete"]


def test_a_message_queued_while_the_broker_is_down_is_delivered_once_it_is_back(redis_broker):
    use_broker(DOWN_BROKER)
    started = time.monotonic()
    with transaction.atomic():
        [message] = outbox.notify(recipients=["agency@example.org"], subject="Agreement executed", body="b")
    assert time.monotonic() - started < 10, "a broker outage must not hang the request"
    message.refresh_from_db()
    assert message.status == Notification.Status.PENDING
    assert mail.outbox == []

    use_broker(REDIS_TEST_URL)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        # The delivery job, queued as beat queues it: again every 10 s until it
        # has sent. (Once in a whole run, the first job queued right after the
        # broker came back was not taken by the worker within 20 s.)
        deadline = time.monotonic() + 60
        while not sent(message.pk) and time.monotonic() < deadline:
            deliver_pending_notifications.delay()
            wait_until(lambda: sent(message.pk), seconds=10.0)
        assert sent(message.pk), "the delivery job did not send the pending message"
        # The periodic job runs again (beat every five minutes): nothing is sent twice.
        deliver_pending_notifications.delay()
        deliver_pending_notifications.delay()
        time.sleep(1.5)
    assert [m.subject for m in mail.outbox] == ["Agreement executed"]
