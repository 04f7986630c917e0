"""Webhooks delivered by a real Celery worker taking the delivery task from
Redis: the decision's commit queues the task and returns at once while the
worker waits on a slow receiver, which verifies the request on its own."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from hmis_portal.celery import app
from hmis_portal.core import outbox, webhooks
from hmis_portal.core.models import WebhookDelivery
from onboarding import services as onboarding
from tests.core.test_worker import redis_broker, wait_until  # noqa: F401 - the fixture
from tests.factories import OrganizationFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory
from tests.webhook_receiver import receiving

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
# CI runs on two loaded cores: a worker thread starts in seconds there, not at once.
WAIT = 60.0


def test_a_decision_reaches_a_slow_receiver_through_a_real_worker_and_waits_for_nothing(
        settings, policy_rows, redis_broker):  # noqa: F811
    settings.CELERY_TASK_ALWAYS_EAGER = False
    outbox.broker_reset()
    agency = OrganizationFactory()
    agreement = AgreementFactory(organization=agency)
    with receiving() as receiver, start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        receiver.mode, receiver.slow_seconds = "slow", 2.0
        _, receiver.secret = webhooks.webhook_subscription_create(
            actor=StaffFactory(groups=["CoC system admin"]), url=receiver.url, event_types=["agreement.executed"])
        started = time.monotonic()
        onboarding.agreement_countersign(actor=StaffFactory(groups=["CoC implementation"]), agreement=agreement)
        decided_in = time.monotonic() - started
        assert wait_until(lambda: len(receiver.verified) == 1, WAIT), (
            f"the worker did not deliver: {list(WebhookDelivery.objects.values('status', 'last_error'))}")
    assert decided_in < 1.5, f"the countersignature waited {decided_in:.1f} s"
    delivery = WebhookDelivery.objects.get()
    assert receiver.ids() == [delivery.event_id] and receiver.rejected == []
    assert receiver.verified[0]["payload"]["data"]["id"] == agreement.pk
    assert wait_until(lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERED).exists(), 10)
