"""A real Celery worker against Redis: the outbox delivers through it, and a
message queued while the broker is down is delivered once it is back, once."""

import os
import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.db import transaction

from hmis_portal.celery import app
from hmis_portal.core import outbox
from hmis_portal.core.models import Notification
from hmis_portal.core.tasks import deliver_pending_notifications
from tests.faults import OwnRedis

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The Redis other test runs on this machine share (a second checkout, CI beside
# a developer). No worker test queues its tasks there: see `redis_broker`.
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
    """A redis-server of the test's own as the broker. On a Redis database
    shared with anything else (another run's worker tests, which wait on the
    same `celery` queue and flush the database before and after each test), a
    task this test queued could be taken or deleted by them and never reach
    this test's worker; a server on a spare port, stopped after the test,
    leaves nobody else a way to it, and nothing of one test to the next."""
    server = OwnRedis().start()
    previous = app.conf.broker_url, app.conf.task_always_eager
    use_broker(server.url)
    # A broker failure an earlier test recorded would skip this test's
    # publishes for the backoff's 30 s: nothing would reach the worker.
    outbox.broker_reset()
    yield server
    use_broker(previous[0])
    app.conf.task_always_eager = previous[1]
    outbox.broker_reset()
    server.stop()


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

    use_broker(redis_broker.url)
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


def test_another_run_waiting_on_the_shared_redis_takes_none_of_this_tests_tasks(redis_broker):
    """Another test run on this machine (a second checkout, CI beside a
    developer) whose worker waits on the `celery` queue of the shared Redis at
    REDIS_TEST_URL must not take this test's task: a worker test's broker is
    its own, so no other consumer on the machine can take its messages."""
    import redis

    shared = redis.Redis.from_url(REDIS_TEST_URL, socket_timeout=10)
    taken = []

    def another_runs_worker():
        item = shared.brpop(["celery"], timeout=4)
        if item:
            taken.append(item)
            shared.rpush(*item)  # put back what another run may have been owed

    rival = threading.Thread(target=another_runs_worker, daemon=True)
    rival.start()
    time.sleep(0.5)  # it waits first: Redis gives a pushed message to the longest waiting consumer
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        with transaction.atomic():
            [message] = outbox.notify(recipients=["agency@example.org"], subject="Access granted", body="b")
        delivered = wait_until(lambda: sent(message.pk), seconds=15.0)
    rival.join(10)
    assert taken == [], "a consumer outside this test took its task"
    assert delivered, "the worker did not deliver the message"
