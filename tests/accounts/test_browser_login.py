import pytest

from tests.browser import sign_in
from tests.factories import MembershipFactory

pytestmark = pytest.mark.browser


def test_a_member_signs_in_and_sees_the_home_page(browser_page, live_server):
    membership = MembershipFactory(persona="program_manager", user__full_name="Pat Example")
    sign_in(browser_page, live_server, membership.user.email)
    assert browser_page.get_by_role("heading", name="Welcome, Pat").is_visible()
    assert browser_page.get_by_text(f"Program Manager at {membership.organization.name}").is_visible()
    assert browser_page.get_by_text("Nothing waits on you right now.").is_visible()


def test_a_wrong_password_gets_a_clear_message_without_saying_which_part(browser_page, live_server):
    membership = MembershipFactory()
    sign_in(browser_page, live_server, membership.user.email, password="not-the-password")
    assert browser_page.get_by_text("do not match an active account").is_visible()
    assert browser_page.url.endswith("/accounts/login/")
