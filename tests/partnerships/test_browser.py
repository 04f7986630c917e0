"""In Chromium: an agency that does not use HMIS uploads its MOA, the partner
accepts, a batch is recorded as sent, and `run_sweeps --at` a few business
days later shows it overdue on the partner's page."""

import datetime as dt
import re

import pytest
from django.core.management import call_command

from hmis_portal.core import calendar
from hmis_portal.core.models import Notification
from partnerships import services
from partnerships.models import DataPartnership, IntakeBatch
from tests.browser import sign_in
from tests.factories import OrganizationFactory
from tests.partnerships.factories import PDF, director, enterer, hmis_agency, person

pytestmark = pytest.mark.browser


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def _business_days_ago(days):
    business = calendar.BusinessCalendar.load()
    day = calendar.local_date()
    while days:
        day -= dt.timedelta(days=1)
        if business.is_business_day(day):
            days -= 1
    return day


def test_moa_to_acceptance_to_an_overdue_batch(browser_page, live_server):
    page = browser_page
    agency = OrganizationFactory(name="Riverbend Outreach")
    partner = hmis_agency(name="Harbor Light Housing")
    agency_ed, partner_ed = director(agency), director(partner)
    # The partner's staff member who enters intakes holds HMIS access there.
    agency_staff, partner_staff = person(agency), enterer(partner)

    # The agency's Executive Director uploads the signed MOA.
    sign_in(page, live_server, agency_ed.email)
    page.get_by_role("link", name="Data partnerships").first.click()
    page.get_by_role("link", name="Propose a data partnership for Riverbend Outreach").click()
    page.get_by_label("HMIS data partner").select_option(label="Harbor Light Housing")
    signed_on = _business_days_ago(10)
    page.get_by_label("MOA signed on").fill(signed_on.isoformat())
    page.get_by_label("Signed MOA (scan)").set_input_files(
        files=[{"name": "moa.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Send the MOA to the partner").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("partnership-status").inner_text() == "Waiting for the partner agency"
    sign_out(page)

    # The partner's Executive Director finds it on the home page and accepts.
    sign_in(page, live_server, partner_ed.email)
    page.get_by_role("link", name=re.compile("Data partnership proposed by Riverbend Outreach")).click()
    page.get_by_role("button", name="Accept the partnership").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("partnership-status").inner_text() == "Active"
    sign_out(page)

    # The agency's staff record a batch sent to the partner some business days ago.
    partnership = DataPartnership.objects.get(agency=agency, partner=partner)
    received_day = _business_days_ago(6)
    sign_in(page, live_server, agency_staff.email)
    page.get_by_role("link", name="Data partnerships").first.click()
    page.get_by_test_id(f"partnership-{partnership.pk}").get_by_role("link", name="Riverbend Outreach").click()
    page.get_by_label("Sent to the partner at").fill(f"{received_day.isoformat()}T10:15")
    page.get_by_label("Number of intakes").fill("3")
    page.get_by_label("Batch reference").fill("RB-2026-1")
    page.get_by_role("button", name="Record the batch").click()
    page.wait_for_load_state()
    assert page.get_by_text("Batch of 3 recorded").is_visible()
    recorded = IntakeBatch.objects.get(partnership=partnership)
    assert calendar.local_date(recorded.received_at) == received_day
    sign_out(page)

    # The daily job runs a few business days later (the morning after the deadline).
    due_at, _ = services.entry_deadlines(received_at=recorded.received_at)
    call_command("run_sweeps", at=(due_at + dt.timedelta(hours=7)).isoformat())
    recorded.refresh_from_db()
    assert recorded.overdue_notified_at is not None
    assert Notification.objects.filter(to_email=partner_staff.email, dedupe_key__startswith="intake-overdue:").exists()

    # The partner's staff see it overdue on their page.
    sign_in(page, live_server, partner_staff.email)
    page.get_by_role("link", name=re.compile("intake batch from Riverbend Outreach to enter into HMIS")).click()
    row = page.get_by_test_id(f"batch-{recorded.pk}")
    assert "Overdue" in row.inner_text()
    assert page.get_by_test_id("overdue-count").inner_text() == "1"
    assert "Due by end of" in row.inner_text()
