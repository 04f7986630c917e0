"""Seed 002 end to end in a browser: an account goes Inactive after 30 days,
the agency administrator asks for reactivation, provisioning staff
reactivate it, nobody logs in to HMIS that day, and the sweep at midnight
makes it Inactive again."""

import datetime as dt

import pytest
from django.core.management import call_command

from hmis_portal.core.calendar import local_date
from tests.hmis_access.hmis import account_last_login, local
from tests.browser import sign_in
from tests.factories import MembershipFactory, StaffFactory

pytestmark = pytest.mark.browser


def _sweep(moment):
    call_command("run_sweeps", "--at", moment.isoformat(), "--only", "hmis-inactivity-sweep",
                 stdout=open("/dev/null", "w"))


def _sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def test_inactive_reactivated_and_inactive_again_after_the_window(browser_page, live_server):
    page = browser_page
    today = local_date()
    account = account_last_login(local(today - dt.timedelta(days=31), 10), user__full_name="Robin Example")
    admin = MembershipFactory(organization=account.organization, persona="agency_administrator").user
    provisioner = StaffFactory(groups=["CoC provisioning"])

    # Day 31 since the last login: the sweep shortly after midnight.
    _sweep(local(today, 0, 5))

    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server.url}/agencies/{account.organization.slug}/hmis-accounts/")
    row = page.locator(f'tr[data-username="{account.hmis_username}"]')
    assert row.get_by_text("Inactive").is_visible()
    row.get_by_role("button", name=f"Request reactivation of {account.hmis_username}").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"Reactivation of {account.hmis_username} requested").is_visible()
    assert row.get_by_text("Ready for provisioning").is_visible()
    _sign_out(page)

    sign_in(page, live_server, provisioner.email)
    page.goto(f"{live_server.url}/hmis-accounts/")
    page.get_by_role("button", name=f"Reactivate {account.hmis_username}").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"{account.hmis_username} is Active again").is_visible()
    assert page.get_by_text("No reactivation waits on provisioning.").is_visible()
    _sign_out(page)

    sign_in(page, live_server, account.user.email)
    page.goto(f"{live_server.url}/hmis-account/")
    assert page.get_by_test_id("account-status").inner_text().strip().startswith("Active")
    # The user is told, on the page (and by email), the moment to log in by.
    assert page.get_by_text("or it is made Inactive again").is_visible()

    # Nobody logs in to HMIS; the sweep after midnight, inside the window, changes nothing...
    _sweep(local(today + dt.timedelta(days=1), 0, 5))
    page.reload()
    assert page.get_by_test_id("account-status").inner_text().strip().startswith("Active")
    # ...and the first one after the window makes it Inactive again.
    _sweep(local(today + dt.timedelta(days=3), 0, 5))
    page.reload()
    assert page.get_by_test_id("account-status").inner_text().strip().startswith("Inactive")
    assert page.get_by_text("no hmis login in time after reactivation").is_visible()
