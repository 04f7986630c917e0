"""The Webhooks pages: system admins subscribe a receiver (its secret shown
once), pause, resume, rotate, delete, read the delivery log and replay; every
change is audited, a double submit changes nothing, and nobody else sees them."""

import pytest
from django.urls import reverse

from hmis_portal.core import webhooks
from hmis_portal.core.models import AuditEvent, WebhookDelivery, WebhookSubscription
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.org/portal"


@pytest.fixture
def sysadmin(client):
    user = StaffFactory(groups=["CoC system admin"])
    client.force_login(user)
    return user


def _create(client, **data):
    return client.post(reverse("webhooks"), {"url": URL, "event_types": ["referral.created", "access_request.granted"],
                                             "description": "County data warehouse", **data})


def test_a_system_admin_subscribes_and_sees_the_secret_once(client, sysadmin):
    response = _create(client)
    subscription = WebhookSubscription.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("webhook-detail", args=[subscription.pk])
    assert subscription.owner == sysadmin and subscription.events == ["access_request.granted", "referral.created"]
    page = client.get(response["Location"]).content.decode()
    assert subscription.signing_secret in page and "not shown again" in page
    assert subscription.signing_secret not in client.get(response["Location"]).content.decode()
    assert subscription.signing_secret not in client.get(reverse("webhooks")).content.decode()
    assert AuditEvent.objects.filter(verb="webhook subscription created", actor=sysadmin).count() == 1


def test_a_double_submit_makes_one_subscription(client, sysadmin):
    _create(client)
    again = _create(client)
    assert again.status_code == 200 and "subscribed already" in again.content.decode()
    assert WebhookSubscription.objects.count() == 1


@pytest.mark.parametrize("data, problem", [
    ({"url": "http://hooks.example.org/in"}, "https://"),
    ({"event_types": []}, "This field is required"),
])
def test_a_bad_subscription_says_why_and_makes_nothing(client, sysadmin, data, problem):
    response = _create(client, **data)
    assert response.status_code == 200 and problem in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_pause_resume_rotate_and_delete_are_audited_and_safe_to_repeat(client, sysadmin):
    _create(client)
    subscription = WebhookSubscription.objects.get()
    detail = reverse("webhook-detail", args=[subscription.pk])
    assert client.post(reverse("webhook-pause", args=[subscription.pk]))["Location"] == detail
    subscription.refresh_from_db()
    assert subscription.status == "paused"
    client.post(reverse("webhook-pause", args=[subscription.pk]))  # double submit
    assert "already paused" in client.get(detail).content.decode()
    client.post(reverse("webhook-resume", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.status == "active"
    old = subscription.signing_secret
    client.post(reverse("webhook-rotate", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.signing_secret != old and subscription.signing_secret in client.get(detail).content.decode()
    client.post(reverse("webhook-delete", args=[subscription.pk]))
    assert client.post(reverse("webhook-delete", args=[subscription.pk])).status_code == 302
    assert not WebhookSubscription.objects.exists()
    verbs = list(AuditEvent.objects.filter(actor=sysadmin).order_by("pk").values_list("verb", flat=True))
    assert verbs == ["webhook subscription created", "webhook subscription paused", "webhook subscription resumed",
                     "webhook secret rotated", "webhook subscription deleted"]


def test_the_delivery_log_pages_and_replays(client, sysadmin, django_assert_max_num_queries):
    _create(client)
    subscription = WebhookSubscription.objects.get()
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(subscription=subscription, event_id=f"msg_{i}", event_type="referral.created",
                        subject=f"referral:{i}", payload={"type": "referral.created"},
                        status=WebhookDelivery.Status.DELIVERED, attempts=1, last_status=204)
        for i in range(60)])
    detail = reverse("webhook-detail", args=[subscription.pk])
    with django_assert_max_num_queries(12):
        first = client.get(detail).content.decode()
    assert "msg_59" in first and "msg_0<" not in first and "1–50 of 60" in first
    assert "msg_0" in client.get(detail + "?page=2").content.decode()
    delivery = WebhookDelivery.objects.get(event_id="msg_3")
    response = client.post(reverse("webhook-replay", args=[delivery.pk]))
    assert response["Location"] == detail
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    client.post(reverse("webhook-replay", args=[delivery.pk]))  # double submit
    assert "already waiting" in client.get(detail).content.decode()
    assert AuditEvent.objects.filter(verb="webhook replayed").count() == 1


def test_the_list_reads_in_a_constant_number_of_queries(client, sysadmin, django_assert_max_num_queries):
    for i in range(15):
        webhooks.webhook_subscription_create(actor=sysadmin, url=f"https://h{i}.example.org/",
                                             event_types=["referral.created"])
    with django_assert_max_num_queries(10):
        page = client.get(reverse("webhooks"))
    assert page.status_code == 200 and "https://h14.example.org/" in page.content.decode()


def test_the_menu_links_webhooks_for_system_admins_only(client):
    admin = StaffFactory(groups=["CoC system admin"])
    client.force_login(admin)
    assert reverse("webhooks") in client.get("/").content.decode()
    for user in (StaffFactory(groups=["CoC provisioning"]),
                 MembershipFactory(organization=OrganizationFactory(), persona="executive_director").user):
        client.force_login(user)
        assert reverse("webhooks") not in client.get("/").content.decode()
        assert client.get(reverse("webhooks")).status_code == 403
