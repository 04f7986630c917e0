"""Two-factor sign-in and the idle warning as a person meets them, in Chromium,
under the portal's Content-Security-Policy (no inline script)."""

import re

import pytest
from playwright.sync_api import expect

from accounts.signin.models import SignInPolicy
from tests.browser import PASSWORD
from tests.factories import StaffFactory, UserFactory
from tests.two_factor import current_code

pytestmark = pytest.mark.browser


def password(page, live_server, email):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_coc_staff_set_up_an_authenticator_at_first_sign_in(browser_page, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page = browser_page
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    staff = StaffFactory(groups=["CES team"])
    password(page, live_server, staff.email)
    assert "/two-factor/setup/" in page.url
    qr = page.get_by_role("img", name="QR code to scan with your authenticator app")
    assert qr.evaluate("img => img.naturalWidth") > 0
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    # A click does not wait for the page it submits to: Playwright's expect waits for it (up to 5 s).
    expect(page.locator("li.recovery-code")).to_have_count(10)
    page.get_by_role("link", name=re.compile("I have saved them")).click()
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()
    assert not [e for e in errors if "Content Security Policy" in e or "Content-Security-Policy" in e]


def test_the_idle_warning_appears_and_stay_signed_in_keeps_the_session(browser_page, live_server):
    from tests.browser import sign_in

    page = browser_page
    # A window so short that the warning shows at once (validation asks for more in the admin).
    SignInPolicy.objects.update_or_create(pk=1, defaults={"idle_timeout_minutes": 2, "idle_warning_minutes": 2})
    user = UserFactory()
    sign_in(page, live_server, user.email)
    warning = page.get_by_role("alert").filter(has_text="You will be signed out in 2 minutes")
    warning.wait_for(state="visible")
    with page.expect_response(re.compile(r"/session/stay-signed-in/$")) as ping:
        page.get_by_role("button", name="Stay signed in").click()
    assert ping.value.status == 204
    assert page.get_by_role("heading", name=re.compile("Welcome")).is_visible()
