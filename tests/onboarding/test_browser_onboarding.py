"""An agency goes from no agreement to participating in a real browser, with
CoC staff working in the admin, and the status list downloads as .xlsx."""

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from onboarding.models import OrganizationAgreement, Program
from tests.browser import sign_in
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.onboarding.factories import PDF

pytestmark = pytest.mark.browser


def switch_to(page, live_server, email):
    page.context.clear_cookies()
    sign_in(page, live_server, email)


def test_an_agency_goes_from_no_agreement_to_participating(browser_page, live_server, policy_rows):
    page = browser_page
    organization = OrganizationFactory(name="Juniper Housing Alliance")
    director = MembershipFactory(organization=organization, persona="executive_director",
                                 user__email="director@juniper.example.org").user
    manager = MembershipFactory(organization=organization, persona="program_manager",
                                user__email="manager@juniper.example.org").user
    implementer = StaffFactory(groups=["CoC implementation"], email="implementer@example.org")

    # Step 1: the Executive Director uploads the signed scan from the home page's task.
    sign_in(page, live_server, director.email)
    page.get_by_role("link", name="Sign and upload the Organization Agreement").click()
    # A file that is not a scan, whatever its name, is refused with a clear message.
    page.get_by_label("Signed by (name)").fill("Jo Juniper")
    page.get_by_label("Signer's title").fill("Executive Director")
    page.get_by_label("Signing date").fill("2026-11-02")
    page.get_by_label("Signed agreement (scan)").set_input_files(
        files=[{"name": "agreement.pdf", "mimeType": "application/pdf", "buffer": b"just some text"}])
    page.get_by_role("button", name="Submit to the CoC").click()
    expect(page.get_by_text("This file is not a PDF, PNG or JPEG")).to_be_visible()
    page.get_by_label("Signed agreement (scan)").set_input_files(
        files=[{"name": "agreement.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Submit to the CoC").click()
    expect(page.locator("#agreement-status")).to_have_text("Submitted, awaiting CoC countersignature")
    expect(page.get_by_role("link", name="Download copy 1")).to_be_visible()

    # CoC staff countersign in the admin, reached from their queue.
    switch_to(page, live_server, implementer.email)
    page.get_by_role("button", name="CoC work").click()
    page.get_by_role("link", name="Onboarding queues").click()
    page.get_by_role("link", name="Juniper Housing Alliance — Organization Agreement").click()
    page.get_by_role("button", name="Countersign (execute)").click()
    expect(page.get_by_text("Agreement countersigned")).to_be_visible()
    assert OrganizationAgreement.objects.get().status == "executed"

    # Step 2: the Program Manager names CES roles and requests program setup.
    switch_to(page, live_server, manager.email)
    page.get_by_role("link", name=re.compile("Name the organization's CES roles")).click()
    page.get_by_label("Housing Navigation/Case Management").check()
    page.get_by_label("Housing Provider").check()
    page.get_by_role("button", name="Save CES roles").click()
    expect(page.get_by_text("The organization's CES roles are saved.")).to_be_visible()
    page.get_by_role("link", name="Request program setup").click()
    page.get_by_role("textbox", name=re.compile("^Program name")).fill("Juniper Navigation Center")
    page.get_by_label("Program type").select_option(label="Access Center / supportive services")
    page.get_by_role("button", name="Send the request").click()
    expect(page.locator("#setup-status")).to_have_text("Requested")
    program = Program.objects.get()

    # The implementation team asks a question in the admin ...
    switch_to(page, live_server, implementer.email)
    page.goto(f"{live_server.url}/admin/onboarding/program/{program.pk}/change/")
    page.get_by_role("link", name="Ask for information").click()
    page.get_by_label("Question for the Program Manager").fill("Which Service Planning Areas do you serve?")
    page.get_by_role("button", name="Ask the Program Manager for information").click()
    expect(page.get_by_text("Question sent to the Program Manager.")).to_be_visible()

    # ... which the Program Manager answers in the portal.
    switch_to(page, live_server, manager.email)
    page.get_by_role("link", name=re.compile("Answer the implementation team")).click()
    expect(page.get_by_role("region", name="The implementation team asks")).to_contain_text(
        "Which Service Planning Areas do you serve?")
    page.get_by_label("Your answer").fill("SPA 4 and SPA 6.")
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator("#setup-status")).to_have_text("Setup in progress")

    # The implementation team marks setup complete ...
    switch_to(page, live_server, implementer.email)
    page.goto(f"{live_server.url}/admin/onboarding/program/{program.pk}/change/")
    page.get_by_role("link", name="Mark setup complete").click()
    page.get_by_label("HMIS program ID").fill("JHA-204")
    page.get_by_role("button", name="Mark program setup complete").click()
    expect(page.get_by_text("Setup complete; the Program Manager was asked")).to_be_visible()

    # ... and the Program Manager confirms it: the agency is participating.
    switch_to(page, live_server, manager.email)
    page.get_by_role("link", name=re.compile("Confirm the setup of Juniper Navigation Center")).click()
    page.get_by_role("button", name="Confirm the setup is valid").click()
    expect(page.locator("#setup-status")).to_have_text("Confirmed")
    page.get_by_role("link", name="Juniper Housing Alliance").first.click()
    expect(page.get_by_text("Participating", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Step 1: Organization Agreement")).to_contain_text("Executed")
    expect(page.get_by_role("region", name="History")).to_contain_text("Named CES roles")

    # The CES Participation Status List shows it, and its .xlsx opens with the right rows.
    OrganizationFactory(name="Yarrow Outreach")
    page.get_by_role("link", name="CES Participation Status").click()
    page.get_by_label("Search").fill("juniper")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row", name=re.compile("Juniper Housing Alliance"))
    expect(row).to_contain_text("Participating")
    expect(page.get_by_role("row", name=re.compile("Yarrow Outreach"))).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .xlsx").click()
    sheet = load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).active
    assert sheet["A1"].value == "CES Participation Status List"
    rows = [tuple(c.value for c in r) for r in sheet.iter_rows(min_row=4)]
    assert rows == [("Juniper Housing Alliance", "Housing Navigation/Case Management; Housing Provider",
                     "Juniper Navigation Center", "Access Center / supportive services", "Confirmed", "Executed",
                     "Participating")]


def test_coc_staff_terminate_an_agreement_from_its_page(browser_page, live_server, policy_rows):
    from django.urls import reverse

    from tests.onboarding.factories import add_copy, executed_agreement

    page = browser_page
    organization = OrganizationFactory(name="Willow Creek Shelter")
    director = MembershipFactory(organization=organization, persona="executive_director",
                                 user__email="director@willow.example.org").user
    agreement = executed_agreement(organization)
    add_copy(agreement)
    implementer = StaffFactory(groups=["CoC implementation"], email="implementer@example.org")
    url = live_server.url + reverse("onboarding:agreement-detail", args=[agreement.pk])

    sign_in(page, live_server, implementer.email)
    page.goto(url)
    # Without a reason nothing changes, and the page says what is missing.
    page.get_by_role("button", name="Terminate the agreement").click()
    expect(page.get_by_text("Say why the agreement is terminated")).to_be_visible()
    expect(page.locator("#agreement-status")).to_have_text("Executed")
    page.get_by_label("Why is the agreement terminated?").fill("The agency left the CoC on November 30.")
    page.get_by_role("button", name="Terminate the agreement").click()
    expect(page.get_by_text("The agreement was terminated")).to_be_visible()
    expect(page.locator("#agreement-status")).to_have_text("Terminated by the CoC")
    expect(page.get_by_role("button", name="Terminate the agreement")).to_have_count(0)

    # The agency reads why, and sees no button.
    switch_to(page, live_server, director.email)
    page.goto(url)
    expect(page.get_by_role("status").filter(has_text="Terminated by the CoC")).to_contain_text(
        "The agency left the CoC on November 30.")
    expect(page.get_by_role("button", name="Terminate the agreement")).to_have_count(0)
    agreement.refresh_from_db()
    assert agreement.status == OrganizationAgreement.Status.TERMINATED
