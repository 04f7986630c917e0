"""From "we want to join" to a signed-in Executive Director who uploads the
agreement, with nobody typing anyone's password for them."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Membership
from hmis_portal.core.models import Notification
from onboarding.models import OrganizationAgreement
from tests.browser import sign_in
from tests.factories import StaffFactory
from tests.onboarding.factories import PDF

pytestmark = pytest.mark.browser
PASSWORD = "Chosen-by-the-director-9"


def test_an_organization_asks_to_join_and_its_director_uploads_the_agreement(browser_page, live_server,
                                                                             policy_rows):
    page = browser_page
    implementer = StaffFactory(groups=["CoC implementation"], email="implementer@example.org")

    # The organization asks, from the sign-in page, without an account.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Ask to join HMIS").click()
    page.get_by_label("Organization name").fill("Willow Creek Housing")
    page.get_by_label("Your name").fill("Wren Willow")
    page.get_by_label("Your email address").fill("wren@willow.example.org")
    page.get_by_label("Housing Provider").check()
    page.get_by_role("button", name="Ask to join").click()
    expect(page.get_by_text("Your request to join was received")).to_be_visible()

    # The implementation team accepts it from its queue.
    sign_in(page, live_server, implementer.email)
    page.get_by_role("button", name="CoC work").click()
    page.get_by_role("link", name="Onboarding queues").click()
    page.get_by_role("link", name="Willow Creek Housing — request to join").click()
    page.get_by_label("Program Manager's email").fill("pm@willow.example.org")
    page.get_by_role("button", name="Accept and invite").click()
    expect(page.get_by_text("Willow Creek Housing was created")).to_be_visible()

    # The Executive Director follows the emailed link and chooses a password.
    page.context.clear_cookies()
    body = Notification.objects.filter(to_email="wren@willow.example.org", subject__contains="invited").get().body
    link = re.search(r"(/invitations/[^/\s]+/)", body).group(1)
    page.goto(f"{live_server.url}{link}")
    expect(page.get_by_text("Executive Director / Authorized Representative")).to_be_visible()
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("The password again").fill(PASSWORD)
    page.get_by_role("button", name="Set my password and join").click()
    assert Membership.objects.filter(user__email="wren@willow.example.org", persona="executive_director").exists()

    # The director signs in and uploads the signed agreement.
    sign_in(page, live_server, "wren@willow.example.org", PASSWORD)
    page.get_by_role("link", name="Sign and upload the Organization Agreement").click()
    page.get_by_label("Signed by (name)").fill("Wren Willow")
    page.get_by_label("Signer's title").fill("Executive Director")
    page.get_by_label("Signing date").fill("2026-11-02")
    page.get_by_label("Signed agreement (scan)").set_input_files(
        files=[{"name": "agreement.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Submit to the CoC").click()
    expect(page.locator("#agreement-status")).to_have_text("Submitted, awaiting CoC countersignature")
    assert OrganizationAgreement.objects.get().organization.name == "Willow Creek Housing"
    # The menu leads back to the agency's progress.
    page.get_by_role("link", name="Willow Creek Housing").first.click()
    expect(page.locator("#step-1")).to_contain_text("Waiting on the CoC's implementation team")
