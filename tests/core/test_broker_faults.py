"""A Redis of the test's own is stopped or frozen while a CES matcher refers a
client to an agency of 22 people: the referral is made and the page answers at
once; every message is delivered, once, when the broker is back.

What the outage may add to the request is the time spent talking to the broker,
measured around the outbox's one publish (the real one, with the real broker):
a stopped broker refuses at once, a frozen one costs one socket timeout, never
one per message or a retry loop. The rest of the request is the same work with
the broker up or down, and on a loaded machine a wall-clock bound on it only
measures the load."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from hmis_portal.celery import app
from hmis_portal.core import calendar, outbox
from hmis_portal.core.models import Notification
from hmis_portal.core.views import HEALTH_DEADLINE_SECONDS
from hmis_portal.core.tasks import deliver_pending_notifications
from referrals.models import Referral
from tests.core.test_worker import use_broker, wait_until
from tests.faults import OwnRedis
from tests.referrals.factories import ProgramFactory, matcher, provider_staff

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_redis(policy_rows):
    redis = OwnRedis().start()
    previous = app.conf.broker_url, app.conf.task_always_eager
    use_broker(redis.url)
    # Warm this process as a running server is: the first use of the broker
    # imports and sets up its client, which is not what an outage adds.
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
    outbox.broker_reset()
    yield redis
    redis.stop()
    use_broker(previous[0])
    app.conf.task_always_eager = previous[1]
    outbox.broker_reset()


@pytest.fixture
def broker_waits(monkeypatch):
    """Seconds spent in each publish to the broker, and what each returned."""
    waits = []
    real_publish = outbox.publish

    def timed_publish(task, args=(), **options):
        started = time.monotonic()
        queued = real_publish(task, args, **options)
        waits.append((time.monotonic() - started, queued))
        return queued

    monkeypatch.setattr(outbox, "publish", timed_publish)
    return waits


def refer(client):
    program = ProgramFactory()
    for _ in range(22):
        provider_staff(program.organization)  # each works referrals: granted, active HMIS access
    client.force_login(matcher())
    # Warm the process as a running server is (first-request imports, the
    # holiday calendar), so the time measured is what the outage adds.
    assert client.get("/referrals/new/").status_code == 200
    calendar.add_business_days(calendar.local_date(), 3)
    started = time.monotonic()
    response = client.post("/referrals/new/", {"program": program.pk, "hmis_client_id": "C-4411",
                                                "contact_name": "Jamie", "contact_phone": "555-0100"})
    return response, time.monotonic() - started


def delivered_once_after_recovery(redis):
    outbox.broker_reset()
    use_broker(redis.url)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        deliver_pending_notifications.delay()
        assert wait_until(lambda: Notification.objects.filter(status=Notification.Status.SENT).count() == 22, 30)
        deliver_pending_notifications.delay()
        time.sleep(1.5)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(Notification.objects.values_list("to_email", flat=True))
    assert len(mail.outbox) == 22


def test_redis_stopped_the_referral_is_made_at_once_and_delivered_after_restart(client, own_redis, broker_waits,
                                                                                 settings):
    own_redis.stop()
    response, took = refer(client)
    assert response.status_code == 302, response.content[:500]
    [(waited, queued)] = broker_waits  # one publish for the 22 messages
    print(f"redis stopped: referral create {response.status_code} in {took:.2f}s, {waited:.3f}s of it on the broker")
    assert queued is False
    # A refused connection answers at once: less than the connect timeout
    # means no timeout was waited out and no retry was slept through.
    assert waited < settings.BROKER_CONNECT_TIMEOUT, f"the publish waited {waited:.2f}s for a stopped broker"
    assert Referral.objects.filter(hmis_client_id="C-4411").exists()
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 22
    assert mail.outbox == []
    own_redis.start()
    delivered_once_after_recovery(own_redis)


def test_redis_frozen_the_referral_and_health_check_answer_and_nothing_is_sent_twice(client, own_redis, settings,
                                                                                      broker_waits):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    own_redis.freeze()
    response, took = refer(client)
    assert response.status_code == 302
    [(waited, queued)] = broker_waits  # one publish for the 22 messages
    print(f"redis frozen: referral create {response.status_code} in {took:.2f}s, {waited:.3f}s of it on the broker")
    # The kernel accepts the connection for the frozen server; the first
    # command then waits one socket timeout. Less than two of them: not once
    # per message, not a retry (a margin of the connect timeout for a loaded machine).
    assert settings.BROKER_CONNECT_TIMEOUT < settings.BROKER_SOCKET_TIMEOUT
    assert waited < settings.BROKER_SOCKET_TIMEOUT + settings.BROKER_CONNECT_TIMEOUT, (
        f"the publish waited {waited:.2f}s for a frozen broker")
    started = time.monotonic()
    health = client.get("/healthz")
    health_took = time.monotonic() - started
    print(f"redis frozen: /healthz {health.status_code} in {health_took:.2f}s")
    assert health.status_code == 503 and health.json()["broker"]["ok"] is False
    # The frozen broker's PING waits out the check's deadline once; a retry or
    # a second wait would take twice that (a margin of the connect timeout for
    # a loaded machine, as above).
    assert health_took < HEALTH_DEADLINE_SECONDS + settings.BROKER_CONNECT_TIMEOUT
    # The publish may have reached the frozen server's socket buffer and be
    # delivered by the worker too: each message is still sent once.
    own_redis.thaw()
    delivered_once_after_recovery(own_redis)
    assert client.get("/healthz").status_code == 200
