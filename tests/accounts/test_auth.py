import re

import pytest
from django.core import mail
from django.urls import reverse

from hmis_portal.core.audit import record_event
from tests.factories import MembershipFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def attempt(client, email, password):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR="10.0.0.7")


def test_sign_in_with_email_in_any_case_lands_on_home(client):
    user = UserFactory(email="pat@example.org")
    response = attempt(client, "PAT@Example.org", "test-password-1")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home")).context["user"] == user


def test_a_wrong_password_and_an_unknown_address_get_the_same_message(client):
    UserFactory(email="pat@example.org")
    wrong_password = attempt(client, "pat@example.org", "nope-nope-nope").content.decode()
    unknown_user = attempt(client, "nobody@example.org", "nope-nope-nope").content.decode()
    message = "That email address and password do not match an active account."
    assert message in wrong_password and message in unknown_user


def test_repeated_failures_lock_the_account_even_with_the_right_password(client, settings):
    UserFactory(email="pat@example.org")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "pat@example.org", "wrong-password-x")
    response = attempt(client, "pat@example.org", "test-password-1")
    assert response.status_code == 429
    assert "Sign-in temporarily locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_unknown_urls_get_the_styled_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()


def test_password_reset_by_email_sets_a_new_password(client):
    user = UserFactory(email="pat@example.org")
    client.post(reverse("password_reset"), {"email": "pat@example.org"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-brand-new-passphrase")


def test_home_shows_the_persons_roles_and_an_empty_task_list(client):
    membership = MembershipFactory(persona="agency_administrator")
    client.force_login(membership.user)
    page = client.get(reverse("home")).content.decode()
    assert f"Agency Administrator at" in page and membership.organization.name in page
    assert "Nothing waits on you right now." in page


def test_home_gathers_open_tasks_from_every_app(client, monkeypatch):
    from hmis_portal.core import registry
    from hmis_portal.core.work import OpenTask

    def referral_tasks(user):
        return [OpenTask("Respond to referral R-1", "/r/1")]

    # Every app's tasks, and one more from referrals.
    providers = registry.Providers(registry.open_tasks.need)
    for provider in registry.open_tasks:
        providers.add(provider, app="any")
    providers.add(referral_tasks, app="referrals")
    monkeypatch.setattr(registry, "open_tasks", providers)
    client.force_login(UserFactory())
    page = client.get(reverse("home")).content.decode()
    assert "Respond to referral R-1" in page and "Nothing waits on you" not in page


def test_the_organization_page_shows_its_timeline(client):
    membership = MembershipFactory(persona="executive_director")
    record_event(actor=membership.user, subject=membership.organization, verb="renamed", from_state="Old",
                 to_state="New", reason="Merger")
    client.force_login(membership.user)
    page = client.get(reverse("organization-detail", args=[membership.organization.slug])).content.decode()
    assert "Renamed" in page and "Old → New" in page and "Merger" in page
