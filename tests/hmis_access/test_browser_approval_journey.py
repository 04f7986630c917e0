"""Another CoC's process as configuration (SPEC §3.6): under the Missouri
Balance of State pack an agency's Authorized Representative asks for a new
user's access, CoC provisioning staff approve it in the portal, the user
then submits the User Policy and Responsibilities form and completes
Security & Privacy Awareness and Data Standards, training staff verify, and
provisioning staff grant access — each step through the pages a person uses."""

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from hmis_access.models import AccessPolicy, AccessRequest, HMISAccount
from hmis_portal.core.models import Notification
from tests.browser import sign_in
from tests.core.test_browser_accessibility import AXE, AXE_RUN
from tests.factories import MembershipFactory, StaffFactory
from tests.hmis_access.test_browser_access_journey import NEW_PASSWORD, _admin_action, _row, _status, _submit, _switch
from tests.training.factories import PDF, agreement, ensure_policy, program, session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _accessible(page):
    """The pages only this step has (the demo's crawl runs under the LA pack) pass axe-core too."""
    # Evaluated through the browser's tooling, which the pages' script policy does not govern.
    page.evaluate(AXE.read_text() + "\n;undefined")
    assert page.evaluate(AXE_RUN) == [], page.url


def test_mo_bos_authorized_representative_request_approved_trained_and_provisioned(browser_page, live_server,
                                                                                     tmp_path):
    ensure_policy()
    call_command("load_policy", "mo-bos", stdout=io.StringIO())
    assert AccessPolicy.current().access_requests_need_approval
    page = browser_page
    director = MembershipFactory(persona="executive_director")
    agency = director.organization
    agreement(agency)
    program(agency, "access-center", name="Ozark Access Center")
    awareness = session("security-privacy-awareness", days=2)
    provisioner = StaffFactory(groups=["CoC provisioning"])
    trainer = StaffFactory(groups=["CoC training"])
    scan = tmp_path / "signed.pdf"
    scan.write_bytes(PDF)

    # 1. The Authorized Representative submits the User Access Request.
    sign_in(page, live_server, director.user.email)
    page.goto(f"{live_server.url}/agencies/{agency.slug}/users/")
    page.get_by_role("link", name="Identify a user").click()
    page.get_by_label("Full name").fill("Morgan Ozark")
    page.get_by_label("Work email address").fill("morgan@example.org")
    page.get_by_label("New HMIS user", exact=False).check()
    page.get_by_label("Housing Navigator / Case Manager", exact=False).check()
    page.get_by_label("Ozark Access Center (Access Center", exact=False).check()
    _submit(page, page.get_by_role("button", name="Identify user"))
    assert page.get_by_text("waits for the CoC's approval").is_visible()
    assert _status(page) == "Awaiting CoC approval"
    request = AccessRequest.objects.get(user__email="morgan@example.org")
    assert request.requested_by == director.user

    # 2. The new user sets a password and sees the request waiting, with nothing to do yet.
    message = Notification.objects.get(to_email="morgan@example.org", subject="Your HMIS Portal login")
    link = re.search(r"(/accounts/reset/\S+)", message.body).group(1)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}{link}")
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    _submit(page, page.get_by_role("button", name="Save the new password"))
    sign_in(page, live_server, "morgan@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Awaiting CoC approval"
    assert page.get_by_test_id("awaiting-approval").is_visible()
    assert page.get_by_role("link", name="Upload").count() == 0
    assert page.get_by_role("link", name="Register for a session").count() == 0
    _accessible(page)
    # The sessions page says why nobody registers yet and offers no button.
    page.goto(f"{live_server.url}/training/sessions/")
    assert "trainings and forms start after they do" in page.get_by_test_id("training-not-yet").inner_text()
    assert page.get_by_role("button", name=re.compile("Register for Security & Privacy Awareness")).count() == 0
    _accessible(page)

    # 3. A CoC provisioning staff member approves it from the portal's queue (menu: CoC work).
    _switch(page, live_server, provisioner.email)
    page.get_by_role("button", name="CoC work").click()
    page.get_by_role("link", name="Access requests to approve").click()
    row = page.get_by_test_id(f"approval-{request.pk}")
    assert "Morgan Ozark" in row.inner_text() and agency.name in row.inner_text()
    _accessible(page)
    _submit(page, row.get_by_role("button", name="Approve"))
    assert page.get_by_text("was approved").is_visible()
    told = Notification.objects.get(to_email="morgan@example.org", subject="Your HMIS access request was approved")
    assert "User Policy and Responsibilities" in told.body and "Data Standards Training" in told.body

    # 4. The user now sees the form and the trainings: uploads the form,
    #    registers for Security & Privacy Awareness, uploads a Data Standards certificate.
    _switch(page, live_server, "morgan@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Gathering requirements"
    assert "Approved" in _row(page, "CoC approval of the request").inner_text()
    _row(page, "Signed User Policy and Responsibilities").get_by_role("link", name="Upload").click()
    page.locator("input[name=document]").set_input_files(str(scan))
    _submit(page, page.get_by_role("button", name="Upload", exact=True))
    assert "awaiting verification" in _row(page, "Signed User Policy and Responsibilities").inner_text()
    # A self-paced course: the checklist links to where it is taken; this person joins a session instead.
    assert _row(page, "Security & Privacy Awareness").get_by_role("link", name="Take the course online").get_attribute(
        "href") == "https://www.icalliances.org/"
    page.goto(f"{live_server.url}/training/sessions/?course=security-privacy-awareness")
    _submit(page, page.get_by_role("button", name=re.compile("Register for Security & Privacy Awareness")))
    page.goto(f"{live_server.url}/my-access/")
    assert "Registered for Security & Privacy Awareness" in _row(page, "Security & Privacy Awareness").inner_text()
    _row(page, "Data Standards Training").get_by_role("link", name="Upload a certificate").click()
    page.get_by_label("Date on the certificate").fill(timezone.localdate().isoformat())
    page.locator("input[name=document]").set_input_files(str(scan))
    _submit(page, page.get_by_role("button", name="Upload certificate"))
    assert "awaiting verification" in _row(page, "Data Standards Training").inner_text()

    # 5. Training staff, in the admin: attendance after the session, the certificate, the form.
    awareness.__class__.objects.filter(pk=awareness.pk).update(starts_at=timezone.now() - dt.timedelta(hours=4),
                                                               ends_at=timezone.now() - dt.timedelta(hours=1))
    _switch(page, live_server, trainer.email)
    page.goto(f"{live_server.url}/admin/training/registration/")
    _admin_action(page, request.user.registrations.get().pk, "record_attendance")
    assert page.get_by_text("Attendance recorded for 1 registration.").is_visible()
    page.goto(f"{live_server.url}/admin/training/certificate/")
    _admin_action(page, request.user.certificates.get().pk, "verify")
    assert page.get_by_text("1 certificate verified.").is_visible()
    page.goto(f"{live_server.url}/admin/training/formsubmission/")
    _admin_action(page, request.user.form_submissions.get().pk, "verify")
    assert page.get_by_text("1 form verified.").is_visible()

    # 6. Every requirement is met: the deadline runs from now, after the approval.
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY and request.ready_at > request.decided_at

    # 7. Provisioning staff grant access from the provisioning queue.
    _switch(page, live_server, provisioner.email)
    page.goto(f"{live_server.url}/provisioning/")
    page.get_by_role("link", name="Morgan Ozark").click()
    page.get_by_role("link", name="Grant HMIS access").click()
    assert page.get_by_label("HMIS role").input_value() == "CES_Standard"
    # The pack's username rule ({first_initial}{last}) proposes it; staff could type another.
    assert page.get_by_label("HMIS username").input_value() == "mozark"
    page.get_by_label("HMIS username").fill("mozark")
    _submit(page, page.get_by_role("button", name="Grant access"))
    assert page.get_by_text("HMIS access granted to Morgan Ozark").is_visible()
    assert HMISAccount.objects.get(user=request.user).hmis_username == "mozark"

    # 8. The user sees their access; the Authorized Representative was told.
    _switch(page, live_server, "morgan@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Access granted"
    assert page.get_by_text("HMIS username mozark", exact=False).is_visible()
    assert Notification.objects.filter(to_email=director.user.email,
                                       subject="HMIS access request approved: Morgan Ozark").exists()
    assert Notification.objects.filter(to_email=director.user.email,
                                       subject__startswith="HMIS access granted").exists()
