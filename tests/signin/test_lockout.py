"""The sign-in lockout counts failures per person, whatever case they type,
and per real client address, never per proxy."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
PROXY = "172.30.0.10"


def attempt(client, email, password, **meta):
    return client.post(LOGIN, {"username": email, "password": password}, **{"REMOTE_ADDR": "10.0.0.7", **meta})


def test_failures_in_one_case_lock_out_every_case(client, settings):
    UserFactory(email="name@agency.example.org")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "name@agency.example.org", "wrong-password-x")
    response = attempt(client, "NAME@agency.example.org", "test-password-1")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    response = attempt(client, "  Name@Agency.Example.org ", "test-password-1")
    assert response.status_code == 429


def test_mixed_case_failures_add_up(client, settings):
    UserFactory(email="name@agency.example.org")
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "name@agency.example.org" if n % 2 else "NAME@AGENCY.EXAMPLE.ORG", "wrong-password-x")
    assert attempt(client, "name@agency.example.org", "test-password-1").status_code == 429


def test_behind_one_proxy_two_clients_are_not_locked_together(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(email="pat@example.org")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "pat@example.org", "wrong-password-x", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    locked = attempt(client, "pat@example.org", "test-password-1", REMOTE_ADDR=PROXY,
                     HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert locked.status_code == 429
    other = attempt(client, "pat@example.org", "test-password-1", REMOTE_ADDR=PROXY,
                    HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert other.status_code == 302 and "_auth_user_id" in client.session


def test_behind_one_proxy_a_forged_leftmost_address_does_not_dodge_the_lockout(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(email="pat@example.org")
    for n in range(settings.AXES_FAILURE_LIMIT):
        # A proxy that appends: the forged part is left of what the proxy saw.
        attempt(client, "pat@example.org", "wrong-password-x", REMOTE_ADDR=PROXY,
                HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7")
    response = attempt(client, "pat@example.org", "test-password-1", REMOTE_ADDR=PROXY,
                       HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.7")
    assert response.status_code == 429


def test_with_no_proxy_a_spoofed_forwarded_for_is_ignored(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    UserFactory(email="pat@example.org")
    for n in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "pat@example.org", "wrong-password-x", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = attempt(client, "pat@example.org", "test-password-1", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429
    # Another real address is not locked by this one's failures.
    elsewhere = attempt(client, "pat@example.org", "test-password-1", REMOTE_ADDR="10.0.0.8")
    assert elsewhere.status_code == 302


def test_the_client_address_comes_from_the_configured_chain(rf, settings):
    from accounts.signin.lockout import client_ip

    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7, 10.1.1.1")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == PROXY
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "10.1.1.1"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "198.51.100.7"
    # Fewer addresses than proxies: the request did not come through them all.
    settings.TRUSTED_PROXY_COUNT = 5
    assert client_ip(request) == PROXY
    assert client_ip(rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="not-an-address")) == PROXY
