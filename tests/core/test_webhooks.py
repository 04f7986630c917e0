"""Webhooks: signed per Standard Webhooks and verified by a receiver that
uses the `standardwebhooks` library on its own (tests/webhook_receiver.py);
retried with backoff when the receiver is down, slow or answers 500, nothing
lost, in order per subject, paused after repeated failure with the owner
told, replayed on demand, and never sent inside the request that decided."""

import datetime as dt
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hmis_portal.core import webhooks
from hmis_portal.core.models import AuditEvent, Notification, WebhookDelivery, WebhookSubscription
from tests.factories import OrganizationFactory, StaffFactory
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def admin():
    return StaffFactory(groups=["CoC system admin"])


def subscribe(receiver, events=("agreement.executed", "agreement.returned"), owner=None):
    subscription, secret = webhooks.webhook_subscription_create(actor=owner or admin(), url=receiver.url,
                                                                event_types=list(events))
    receiver.secret = secret
    return subscription


def happen(subject, event="agreement.executed", state="executed"):
    return webhooks.emit(event=event, subject=subject, data={"state": state, "agency_id": subject.pk,
                                                             "link": f"/agencies/{subject.pk}/"})


def later(minutes):
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_an_event_reaches_the_receiver_signed_with_ids_states_and_links_only(settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscription = subscribe(receiver)
        assert happen(agency) == 1
        assert receiver.requests == 0  # written, not sent: delivery is the task's
        result = webhooks.deliver_pending()
    assert result["sent"] == 1 and receiver.rejected == []
    [hit] = receiver.verified
    delivery = WebhookDelivery.objects.get()
    assert hit["id"] == delivery.event_id and hit["id"].startswith("msg_")
    assert hit["payload"]["type"] == "agreement.executed"
    assert hit["payload"]["data"] == {"id": agency.pk, "state": "executed", "agency_id": agency.pk,
                                      "link": f"https://portal.example.org/agencies/{agency.pk}/"}
    assert set(hit["payload"]) == {"type", "timestamp", "data"}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status) == (Status.DELIVERED, 1, 204)
    assert delivery.subscription_id == subscription.pk


def test_a_receiver_that_does_not_know_the_secret_rejects_the_signature():
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscribe(receiver)
        receiver.secret = webhooks.new_secret()  # another secret: the signature must not verify
        happen(agency)
        webhooks.deliver_pending()
    assert receiver.verified == [] and len(receiver.rejected) == 1
    assert WebhookDelivery.objects.get().status == Status.PENDING


def test_nobody_subscribed_writes_nothing_and_other_events_are_not_sent():
    agency = OrganizationFactory()
    assert happen(agency) == 0
    with receiving() as receiver:
        subscribe(receiver, events=("agreement.returned",))
        assert happen(agency) == 0
    assert not WebhookDelivery.objects.exists()


def test_a_payload_never_carries_anything_but_ids_states_and_links():
    agency = OrganizationFactory()
    with pytest.raises(ValueError, match="ids, states and links"):
        webhooks.emit(event="agreement.executed", subject=agency, data={"state": "x", "email": "a@example.org"})
    with pytest.raises(ValueError, match="Unknown webhook event"):
        webhooks.emit(event="agreement.signed", subject=agency, data={})


def test_a_500_is_retried_with_backoff_and_nothing_is_lost():
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscribe(receiver)
        receiver.mode = "500"
        happen(agency)
        webhooks.deliver_pending()
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status) == (Status.PENDING, 1, 500)
        first_wait = delivery.next_attempt_at - timezone.now()
        assert dt.timedelta(seconds=20) < first_wait <= webhooks.FIRST_BACKOFF
        webhooks.deliver_pending()  # not due yet: nothing is tried
        assert receiver.requests == 1
        webhooks.deliver_pending(now=later(1))
        delivery.refresh_from_db()
        assert delivery.attempts == 2
        # The second wait is twice the first.
        assert delivery.next_attempt_at - later(1) > dt.timedelta(seconds=50)
        receiver.mode = "ok"
        webhooks.deliver_pending(now=later(5))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status) == (Status.DELIVERED, 3, 204)
    assert receiver.ids() == [delivery.event_id]  # the same webhook-id on every attempt


def test_a_receiver_that_is_down_gets_everything_once_it_is_back():
    agency = OrganizationFactory()
    receiver = Receiver()  # not started: the port refuses connections
    subscribe(receiver)
    happen(agency)
    happen(agency, event="agreement.returned", state="returned")
    result = webhooks.deliver_pending()
    # One failure, and the run leaves the rest of that subscription for later.
    assert (result["sent"], result["failed"]) == (0, 1)
    assert WebhookDelivery.objects.filter(attempts=0).count() == 1
    receiver.start()
    try:
        webhooks.deliver_pending(now=later(1))
    finally:
        receiver.stop()
    assert receiver.types() == ["agreement.executed", "agreement.returned"]
    assert not WebhookDelivery.objects.exclude(status=Status.DELIVERED).exists()


def test_a_slow_receiver_times_out_is_retried_and_the_run_is_bounded(settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscribe(receiver)
        receiver.mode, receiver.slow_seconds = "slow", 3
        happen(agency)
        started = time.monotonic()
        webhooks.deliver_pending()
        assert time.monotonic() - started < 2.5
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == Status.PENDING and "Timeout" in delivery.last_error
        receiver.mode = "ok"
        webhooks.deliver_pending(now=later(1))
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert receiver.ids()[-1] == delivery.event_id


def test_a_subjects_events_go_in_order_while_another_subject_is_not_held_up():
    first, second = OrganizationFactory(), OrganizationFactory()
    with receiving() as receiver:
        subscribe(receiver)
        happen(first)
        happen(first, event="agreement.returned", state="returned")
        happen(second)
        # The first event of `first` fails: its second must wait for it.
        early = WebhookDelivery.objects.order_by("pk").first()
        WebhookDelivery.objects.filter(pk=early.pk).update(next_attempt_at=later(10))
        webhooks.deliver_pending()
        assert [(hit["type"], hit["payload"]["data"]["id"]) for hit in receiver.verified] == [
            ("agreement.executed", second.pk)]
        webhooks.deliver_pending(now=later(11))
    assert [(hit["type"], hit["payload"]["data"]["id"]) for hit in receiver.verified] == [
        ("agreement.executed", second.pk), ("agreement.executed", first.pk), ("agreement.returned", first.pk)]


def test_a_subscription_that_keeps_failing_is_paused_its_owner_told_and_resumed_in_order(settings):
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    owner, other_admin = admin(), admin()
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscription = subscribe(receiver, owner=owner)
        receiver.mode = "500"
        happen(agency)
        happen(agency, event="agreement.returned", state="returned")
        for minutes in (0, 2, 5, 20):
            webhooks.deliver_pending(now=later(minutes))
        subscription.refresh_from_db()
        assert subscription.status == WebhookSubscription.Status.PAUSED
        assert "3 failed attempts in a row" in subscription.paused_reason
        assert receiver.requests == 3  # paused: the fourth run sent nothing
        told = set(Notification.objects.filter(subject__startswith="Webhook paused").values_list("to_email",
                                                                                                flat=True))
        assert told == {owner.email, other_admin.email}
        assert AuditEvent.objects.filter(verb="webhook subscription paused", object_id=str(subscription.pk)).exists()
        # Events keep being written while it is paused.
        happen(agency)
        assert WebhookDelivery.objects.filter(status=Status.PENDING).count() == 3

        receiver.mode = "ok"
        webhooks.webhook_subscription_resume(actor=owner, subscription=subscription)
        webhooks.deliver_pending()
    assert receiver.types() == ["agreement.executed", "agreement.returned", "agreement.executed"]
    assert not WebhookDelivery.objects.exclude(status=Status.DELIVERED).exists()
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0


def test_replay_sends_the_same_webhook_id_again_and_a_double_submit_changes_nothing():
    actor = admin()
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscribe(receiver)
        happen(agency)
        webhooks.deliver_pending()
        delivery = WebhookDelivery.objects.get()
        webhooks.webhook_delivery_replay(actor=actor, delivery=delivery)
        with pytest.raises(ValidationError, match="already waiting"):
            webhooks.webhook_delivery_replay(actor=actor, delivery=delivery)
        webhooks.deliver_pending()
    assert receiver.ids() == [delivery.event_id, delivery.event_id]
    assert receiver.verified[0]["body"] == receiver.verified[1]["body"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.DELIVERED, 2)
    assert AuditEvent.objects.filter(verb="webhook replayed", actor=actor).count() == 1


@pytest.mark.parametrize("url, problem", [
    ("http://hooks.example.org/in", "https://"),
    ("ftp://hooks.example.org/in", "https://"),
    ("https://user:pw@hooks.example.org/in", "user name and password"),
    ("not a url", "https://"),
])
def test_a_receiver_url_must_be_https_or_nothing_is_made(url, problem):
    with pytest.raises(ValidationError, match=problem):
        webhooks.webhook_subscription_create(actor=admin(), url=url, event_types=["agreement.executed"])
    assert not WebhookSubscription.objects.exists()


def test_plain_http_only_to_this_machine_and_only_where_allowed(settings):
    actor = admin()
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = False
    with pytest.raises(ValidationError):
        webhooks.webhook_subscription_create(actor=actor, url="http://127.0.0.1:9/in", event_types=["agreement.executed"])
    settings.WEBHOOK_ALLOW_LOOPBACK_HTTP = True
    subscription, secret = webhooks.webhook_subscription_create(actor=actor, url="http://127.0.0.1:9/in",
                                                                event_types=["agreement.executed"])
    assert secret.startswith("whsec_") and subscription.signing_secret == secret
    with pytest.raises(ValidationError, match="subscribed already"):
        webhooks.webhook_subscription_create(actor=actor, url="http://127.0.0.1:9/in",
                                             event_types=["agreement.executed"])
    with pytest.raises(ValidationError, match="at least one"):
        webhooks.webhook_subscription_create(actor=actor, url="https://hooks.example.org/", event_types=[])
    assert WebhookSubscription.objects.count() == 1


def test_a_rotated_secret_signs_from_then_on():
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscription = subscribe(receiver)
        old = receiver.secret
        receiver.secret = webhooks.webhook_subscription_rotate_secret(actor=admin(), subscription=subscription)
        assert receiver.secret != old
        happen(agency)
        webhooks.deliver_pending()
    assert len(receiver.verified) == 1 and receiver.rejected == []


def test_the_signing_secret_is_sealed_at_rest():
    """The portal must keep the secret to sign with it; the database holds it
    sealed with a key derived from SECRET_KEY, so a copy of the database
    alone cannot sign a webhook a receiver would take."""
    with receiving() as receiver:
        subscription = subscribe(receiver)
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM core_webhooksubscription WHERE id = %s", [subscription.pk])
            (stored,) = cursor.fetchone()
        assert stored.startswith("sealed:")
        assert receiver.secret not in stored and "whsec_" not in stored
        assert WebhookSubscription.objects.get().signing_secret == receiver.secret
        happen(OrganizationFactory())
        assert webhooks.deliver_pending()["sent"] == 1
    assert len(receiver.verified) == 1 and receiver.rejected == []


def test_a_new_secret_key_with_the_old_one_as_a_fallback_still_signs(settings):
    with receiving() as receiver:
        subscribe(receiver)
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
        settings.SECRET_KEY = "another-long-random-key-for-this-test-only"
        happen(OrganizationFactory())
        assert webhooks.deliver_pending()["sent"] == 1
    assert len(receiver.verified) == 1


def test_a_secret_sealed_under_a_key_no_longer_configured_fails_the_delivery_with_what_to_do(settings):
    with receiving() as receiver:
        subscribe(receiver)
        settings.SECRET_KEY = "another-long-random-key-for-this-test-only"
        happen(OrganizationFactory())
        result = webhooks.deliver_pending()
    assert result["failed"] == 1 and receiver.requests == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert "signing secret cannot be read" in delivery.last_error and "rotate" in delivery.last_error


def test_a_set_based_change_writes_its_webhooks_in_one_statement():
    from tests.factories import HMISAccountFactory

    from hmis_accounts import services

    with receiving() as receiver:
        subscribe(receiver, events=("hmis_account.inactive",))
        accounts = [HMISAccountFactory() for _ in range(12)]
        with CaptureQueriesContext(connection) as queries:
            services.hmis_account_make_inactive(accounts=[a.pk for a in accounts], reason="no-login",
                                                note="No login", at=timezone.now())
        inserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO \"core_webhookdelivery\"" in q["sql"]
                   or "INSERT INTO core_webhookdelivery" in q["sql"]]
        assert len(inserts) == 1
        webhooks.deliver_pending()
    assert sorted(hit["payload"]["data"]["id"] for hit in receiver.verified) == sorted(a.pk for a in accounts)
    for hit, account in zip(sorted(receiver.verified, key=lambda h: h["payload"]["data"]["id"]),
                            sorted(accounts, key=lambda a: a.pk)):
        assert hit["payload"]["data"]["state"] == "inactive"
        assert hit["payload"]["data"]["agency_id"] == account.organization_id
        assert hit["payload"]["data"]["link"].endswith(f"/agencies/{account.organization.slug}/hmis-accounts/")
    assert len(set(receiver.ids())) == 12
