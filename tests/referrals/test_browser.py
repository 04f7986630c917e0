"""Issue 5's "done when": a referral from matched to enrolled with move-in,
and another to overdue and escalated by `run_sweeps --at`, in Chromium."""

import datetime as dt
import re

import pytest
from django.core.management import call_command

from hmis_portal.core import calendar
from hmis_portal.core.models import Notification
from referrals.models import Referral
from tests.browser import sign_in
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _policy(policy_rows):
    """The live server needs the need statuses and groups a flush empties."""


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def choose_status(page, name, note="", enrollment_date=None):
    page.get_by_label("New need status").select_option(label=name)
    if enrollment_date:
        page.get_by_label("Enrollment date").fill(enrollment_date.isoformat())
    if note:
        page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Save need status").click()
    page.wait_for_load_state()


def test_a_referral_goes_from_matched_to_enrolled_with_move_in(browser_page, live_server):
    page = browser_page
    program = ProgramFactory(name="Bayside Permanent Housing")
    staff = provider_staff(program.organization)
    ces = matcher()

    # The CES matcher refers the client.
    sign_in(page, live_server, ces.email)
    page.get_by_role("link", name="Referrals").first.click()
    page.get_by_role("link", name="New referral").click()
    page.get_by_label("Housing provider's program").select_option(label=f"{program.organization} — {program.name}")
    page.get_by_label("HMIS client ID").fill("HC-3141")
    page.get_by_label("Name the client goes by").fill("Jordan")
    page.get_by_label("Phone").fill("555-0123")
    page.get_by_role("button", name="Create referral").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("current-status").inner_text() == "CES: Matched: Awaiting response by Housing Provider"
    sign_out(page)

    # The provider finds it from the home page and works it.
    sign_in(page, live_server, staff.email)
    page.get_by_role("link", name=re.compile("1 new referral awaiting your response")).click()
    page.get_by_role("link", name=re.compile(r"Referral \d+")).click()
    assert page.get_by_text("555-0123").is_visible()
    choose_status(page, "CES: Attempted/Attempting Contact", note="Called, left a message")
    assert page.get_by_test_id("current-status").inner_text() == "CES: Attempted/Attempting Contact"
    choose_status(page, "CES: Client Engaged, In Progress to Enrollment")
    today = calendar.local_date()
    choose_status(page, "CES: Enrolled", enrollment_date=today)
    assert page.get_by_test_id("current-status").inner_text() == "CES: Enrolled"

    # A move-in date in the future is refused; today is recorded.
    page.get_by_label("Housing move-in date").fill((today + dt.timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Record move-in date").click()
    page.wait_for_load_state()
    assert page.get_by_text("cannot be in the future").first.is_visible()
    page.get_by_label("Housing move-in date").fill(today.isoformat())
    page.get_by_role("button", name="Record move-in date").click()
    page.wait_for_load_state()
    assert page.get_by_text("Housing move-in date recorded.").is_visible()

    referral = Referral.objects.get(hmis_client_id="HC-3141")
    assert (referral.status.code, referral.enrollment_date, referral.move_in_date) == ("enrolled", today, today)
    history = page.get_by_role("table").last
    for name in ("CES: Attempted/Attempting Contact", "CES: Client Engaged, In Progress to Enrollment",
                 "CES: Enrolled"):
        assert history.get_by_role("cell", name=name, exact=True).count() >= 1


def test_a_referral_becomes_overdue_and_is_escalated_by_the_sweep(browser_page, live_server):
    page = browser_page
    program = ProgramFactory(name="Seaview Rapid Rehousing")
    staff = provider_staff(program.organization)
    ces = matcher()
    other = ProgramFactory(name="Hillcrest Housing")
    referred = dt.datetime.now(tz=calendar.coc_timezone()) - dt.timedelta(days=14)
    referral = make_referral(program, actor=ces, client_id="HC-2718", at=referred)

    call_command("run_sweeps", "--at", (referral.due_at + dt.timedelta(minutes=5)).isoformat(),
                 "--only", "referral-timeliness")
    assert Notification.objects.filter(to_email=staff.email, subject__startswith="Overdue").count() == 1
    assert not Notification.objects.filter(to_email=ces.email, subject__startswith="Escalated").exists()

    # The provider sees it overdue in the counts report and opens it in one click from the list.
    sign_in(page, live_server, staff.email)
    page.get_by_role("link", name="Referrals").first.click()
    page.get_by_role("link", name="1 overdue in CES: Matched: Awaiting response by Housing Provider").click()
    assert page.get_by_role("heading", name="Open referrals").is_visible()
    page.get_by_role("link", name=f"Referral {referral.pk}").click()
    assert page.get_by_text("Overdue", exact=True).is_visible()
    sign_out(page)

    call_command("run_sweeps", "--at", (referral.escalate_at + dt.timedelta(minutes=5)).isoformat(),
                 "--only", "referral-timeliness")
    call_command("run_sweeps", "--at", (referral.escalate_at + dt.timedelta(minutes=20)).isoformat(),
                 "--only", "referral-timeliness")
    assert Notification.objects.filter(to_email=ces.email, subject__startswith="Escalated").count() == 1

    # The CES team finds it returned, and re-refers the client.
    sign_in(page, live_server, ces.email)
    page.get_by_role("link", name=re.compile("1 client returned for re-referral")).click()
    page.get_by_role("link", name=f"Referral {referral.pk}").click()
    assert page.get_by_test_id("current-status").inner_text() == "CES Team Only: Housing Provider Did Not Respond"
    assert page.get_by_text("Scheduled job").first.is_visible()
    page.get_by_role("link", name="Re-refer this client").click()
    page.get_by_label("Re-refer to program").select_option(label=f"{other.organization} — {other.name}")
    page.get_by_role("button", name="Re-refer").click()
    page.wait_for_load_state()
    assert page.get_by_text("Client re-referred to Hillcrest Housing.").is_visible()
    new = Referral.objects.get(rereferred_from=referral)
    assert new.program == other and new.is_open
