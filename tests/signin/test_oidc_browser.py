"""Sign-in through the CoC's identity provider as a person meets it, in
Chromium, against a real provider (Node's `oidc-provider`, tests/oidc_provider.py),
under the portal's Content-Security-Policy. The refusals are in test_oidc.py."""

import re

import pytest

from tests.factories import MembershipFactory, StaffFactory, UserFactory
from tests.oidc_provider import OidcProvider
from tests.two_factor import authenticator, current_code

pytestmark = pytest.mark.browser

ACCOUNTS = {
    "mfa.staff@example.org": {"amr": ["pwd", "mfa"]},
    "plain.staff@example.org": {"amr": ["pwd"]},
    "agency.person@example.org": {},
}


@pytest.fixture
def provider(live_server, settings):
    with OidcProvider(portal_url=live_server.url, accounts=ACCOUNTS) as running:
        running.configure(settings)
        yield running


def through_the_provider(page, live_server, email):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test Provider").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()


def test_with_the_providers_second_factor_staff_land_home_and_sign_out_of_both(browser_page, live_server,
                                                                               provider):
    page = browser_page
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    StaffFactory(email="mfa.staff@example.org", groups=["CES team"])
    through_the_provider(page, live_server, "mfa.staff@example.org")
    assert page.url == f"{live_server.url}/"
    assert page.get_by_role("heading", name=re.compile("Welcome")).is_visible()
    # Signing out goes on to the provider, which ends its own session and sends the person back.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.url.startswith(provider.url)
    page.get_by_role("button", name=re.compile("sign me out", re.I)).click()
    page.wait_for_url(f"{live_server.url}/accounts/login/**")
    # The provider asks again who this is: its session ended too.
    page.get_by_role("link", name="Sign in with Test Provider").click()
    assert page.get_by_label("Email").is_visible()
    assert not [e for e in errors if "Content Security Policy" in e or "Content-Security-Policy" in e]


def test_without_it_staff_are_asked_the_portals_code(browser_page, live_server, provider):
    page = browser_page
    staff = StaffFactory(email="plain.staff@example.org", groups=["CES team"])
    device = authenticator(staff, name="Browser test")
    through_the_provider(page, live_server, "plain.staff@example.org")
    assert "/two-factor/verify/" in page.url
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=re.compile("Welcome")).is_visible()


def test_an_agency_person_who_owes_no_second_factor_lands_home(browser_page, live_server, provider):
    page = browser_page
    MembershipFactory(user=UserFactory(email="agency.person@example.org"))
    through_the_provider(page, live_server, "agency.person@example.org")
    assert page.url == f"{live_server.url}/"
    assert page.get_by_role("heading", name=re.compile("Welcome")).is_visible()
