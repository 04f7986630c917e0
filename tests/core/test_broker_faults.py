"""A Redis of the test's own is stopped or frozen while a CES matcher refers a
client to an agency of 22 people: the referral is made and the page answers at
once; every message is delivered, once, when the broker is back."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from hmis_portal.celery import app
from hmis_portal.core import calendar, outbox
from hmis_portal.core.models import Notification
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
    outbox.broker_reset()
    yield redis
    redis.stop()
    use_broker(previous[0])
    app.conf.task_always_eager = previous[1]
    outbox.broker_reset()


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


def test_redis_stopped_the_referral_is_made_at_once_and_delivered_after_restart(client, own_redis):
    own_redis.stop()
    response, took = refer(client)
    assert response.status_code == 302, response.content[:500]
    print(f"redis stopped: referral create {response.status_code} in {took:.2f}s")
    assert took < 1.0, f"the referral took {took:.1f}s"
    assert Referral.objects.filter(hmis_client_id="C-4411").exists()
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 22
    assert mail.outbox == []
    own_redis.start()
    delivered_once_after_recovery(own_redis)


def test_redis_frozen_the_referral_and_health_check_answer_and_nothing_is_sent_twice(client, own_redis, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    own_redis.freeze()
    response, took = refer(client)
    assert response.status_code == 302
    print(f"redis frozen: referral create {response.status_code} in {took:.2f}s")
    assert took < 3.0, f"the referral took {took:.1f}s"
    started = time.monotonic()
    health = client.get("/healthz")
    health_took = time.monotonic() - started
    print(f"redis frozen: /healthz {health.status_code} in {health_took:.2f}s")
    assert health.status_code == 503 and health.json()["broker"]["ok"] is False
    assert health_took < 2
    # The publish may have reached the frozen server's socket buffer and be
    # delivered by the worker too: each message is still sent once.
    own_redis.thaw()
    delivered_once_after_recovery(own_redis)
    assert client.get("/healthz").status_code == 200
