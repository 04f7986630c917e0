"""Sessions end after the CoC's idle window, and after a whole working day."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.signin.models import SignInPolicy
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_idle_past_the_policy_window_signs_out_with_a_message(client):
    user = UserFactory()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(user)
        assert client.get(reverse("my-access")).status_code == 200
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert client.get(reverse("my-access")).status_code == 200
    with time_machine.travel(start + timedelta(minutes=29 + 31), tick=False):
        response = client.get(reverse("my-access"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert "_auth_user_id" not in client.session
        page = client.get(response["Location"]).content.decode()
        assert "signed out after 30 minutes without activity" in page


def test_the_idle_window_is_the_policys(client):
    policy = SignInPolicy.current()
    policy.idle_timeout_minutes = 10
    policy.save()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(UserFactory())
        client.get(reverse("home"))
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        assert client.get(reverse("home")).status_code == 302


def test_staying_signed_in_counts_as_activity(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(StaffFactory())
        client.get(reverse("home"))
    with time_machine.travel(start + timedelta(minutes=28), tick=False):
        assert client.post(reverse("stay-signed-in")).status_code == 204
    with time_machine.travel(start + timedelta(minutes=55), tick=False):
        assert client.get(reverse("home")).status_code == 200


def test_a_session_ends_after_a_working_day_even_when_active(client, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(UserFactory())
    for minutes in range(20, settings.SESSION_COOKIE_AGE // 60, 20):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + timedelta(seconds=settings.SESSION_COOKIE_AGE + 60), tick=False):
        assert client.get(reverse("home")).status_code == 302


def test_pages_carry_the_warning_timer_from_the_policy(client):
    client.force_login(UserFactory())
    # The clock stands still: on loaded cores a second may pass between the
    # request's activity stamp and the page's count of the seconds left.
    with time_machine.travel(timezone.now(), tick=False):
        page = client.get(reverse("home")).content.decode()
    assert 'data-idle-seconds="1800"' in page and 'data-warning-seconds="120"' in page
    assert "You will be signed out in 2 minutes" in page
    assert 'src="/static/signin/idle.js"' in page


def test_anonymous_pages_have_no_timer(client):
    assert "data-idle-seconds" not in client.get(reverse("login")).content.decode()
