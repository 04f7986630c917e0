"""Playwright in Debian's Chromium against pytest-django's live server.

Use the `browser_page` fixture (from tests/conftest.py) and `sign_in`; mark the
test `@pytest.mark.browser`. The live server runs in a thread of the test
process, so tests that use it need `transactional_db` (the fixture asks for it).
"""

import os

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Chromium reaches for Google's services at start; this machine has no such
# network, so those features are switched off rather than left to time out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PASSWORD = "test-password-1"


def sign_in(page, live_server, email, password=PASSWORD):
    """Sign in as a person would: the password, then, for those who need a
    second factor, the code from their authenticator app (a new one for each
    sign-in, as each code works once)."""
    from django.contrib.auth import get_user_model

    from accounts.access import two_factor_required
    from tests.two_factor import authenticator, current_code

    user = get_user_model().objects.filter(email__iexact=email).first()
    device = authenticator(user, name="Browser test") if user and two_factor_required(user) else None
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if device and "/two-factor/verify/" in page.url:
        page.get_by_label("Code").fill(current_code(device))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
