"""A new user from being identified to provisioned, through the portal and,
for CoC staff, the admin; the gate (steps 1–2, trainings, forms) is visible at
each step (issue 4, "Done when")."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from hmis_access.models import AccessRequest, HMISAccount
from hmis_portal.core.dates import deadline_text
from hmis_portal.core.models import Notification
from tests.browser import sign_in
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import PDF, ensure_policy, program, session

# Transactional tests flush the database; restore the policy rows migrations loaded.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "a-long-new-password-42"


def _status(page):
    return page.get_by_test_id("request-status").inner_text()


def _upload_form(page, form, scan):
    _row(page, form).get_by_role("link", name="Upload").click()
    page.locator("input[name=document]").set_input_files(str(scan))
    _submit(page, page.get_by_role("button", name="Upload", exact=True))
    assert "awaiting verification" in _row(page, form).inner_text()


def _row(page, label):
    return page.get_by_role("row").filter(has_text=label).first


def _switch(page, live_server, email, password="test-password-1"):
    page.context.clear_cookies()
    sign_in(page, live_server, email, password)


def _submit(page, locator):
    """Click something that submits a form and wait for the next page."""
    with page.expect_navigation():
        locator.click()


def _admin_action(page, pk, action):
    page.locator(f'input[name="_selected_action"][value="{pk}"]').check()
    page.select_option('select[name="action"]', action)
    _submit(page, page.locator('button[name="index"]'))


def test_new_user_identified_trained_verified_and_provisioned(browser_page, live_server, tmp_path):
    from onboarding.models import OrganizationAgreement, Program
    from onboarding.signals import participation_changed

    ensure_policy()
    page = browser_page
    manager = MembershipFactory(persona="program_manager")
    agency = manager.organization
    shelter = program(agency, "emergency-shelter", confirmed=False, name="Bridge Shelter")
    hmis10 = session("hmis-10", days=2)
    trainer = StaffFactory(groups=["CoC training"])
    provisioner = StaffFactory(groups=["CoC provisioning"])
    scan = tmp_path / "signed.pdf"
    scan.write_bytes(PDF)

    # 1. The Program Manager identifies a new user with a role tied to a program.
    sign_in(page, live_server, manager.user.email)
    page.goto(f"{live_server.url}/agencies/{agency.slug}/users/new/")
    page.get_by_label("Full name").fill("Taylor Newhire")
    page.get_by_label("Work email address").fill("taylor@example.org")
    page.get_by_label("New HMIS user", exact=False).check()
    page.get_by_label("Housing Navigator / Case Manager", exact=False).check()
    page.get_by_label("Bridge Shelter (Emergency Shelter)").check()
    _submit(page, page.get_by_role("button", name="Identify user"))
    assert _status(page) == "Gathering requirements"
    assert page.get_by_test_id("hmis-role").inner_text() == "CES_Standard"
    assert "not executed yet" in _row(page, "Organization Agreement executed").inner_text()
    assert "Not confirmed yet" in _row(page, "Program setup confirmed").inner_text()
    request = AccessRequest.objects.get(user__email="taylor@example.org")

    # 2. The user sets a password from the emailed link and sees their checklist.
    message = Notification.objects.get(to_email="taylor@example.org", subject="Your HMIS Portal login")
    link = re.search(r"(/accounts/reset/\S+)", message.body).group(1)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}{link}")
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    _submit(page, page.get_by_role("button", name="Save the new password"))
    sign_in(page, live_server, "taylor@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    assert "Not registered yet" in _row(page, "HMIS 10").inner_text()

    # 3. They register for HMIS 10, upload a 509 certificate and both forms.
    _row(page, "HMIS 10 (3 h").get_by_role("link", name="Register for a session").click()
    _submit(page, page.get_by_role("button", name=re.compile("Register for HMIS 10")))
    assert page.get_by_text(f"You are registered for").is_visible()
    page.goto(f"{live_server.url}/my-access/")
    assert "Registered for HMIS 10" in _row(page, "HMIS 10 (3 h").inner_text()
    _row(page, "HMIS 509 full class").get_by_role("link", name="Upload a certificate").click()
    page.get_by_label("Date on the certificate").fill("2026-10-01")
    page.locator("input[name=document]").set_input_files(str(scan))
    _submit(page, page.get_by_role("button", name="Upload certificate"))
    assert "awaiting verification" in _row(page, "HMIS 509 full class").inner_text()
    _upload_form(page, "Signed User Agreement", scan)
    # The acknowledgement comes upon completion of HMIS 10: nothing to upload yet.
    assert "Waits for: HMIS 10" in _row(page, "Signed HMIS 10 Acknowledgement").inner_text()
    assert _row(page, "Signed HMIS 10 Acknowledgement").get_by_role("link").count() == 0

    # 4. Training staff, in the admin: attendance (after the session), the certificate, the forms.
    hmis10.__class__.objects.filter(pk=hmis10.pk).update(starts_at=timezone.now() - dt.timedelta(hours=4),
                                                         ends_at=timezone.now() - dt.timedelta(hours=1))
    _switch(page, live_server, trainer.email)
    page.goto(f"{live_server.url}/admin/training/registration/")
    registration = request.user.registrations.get()
    _admin_action(page, registration.pk, "record_attendance")
    assert page.get_by_text("Attendance recorded for 1 registration.").is_visible()
    page.goto(f"{live_server.url}/admin/training/certificate/")
    _admin_action(page, request.user.certificates.get().pk, "verify")
    assert page.get_by_text("1 certificate verified.").is_visible()
    # HMIS 10 is complete: the user uploads the acknowledgement.
    _switch(page, live_server, "taylor@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    _upload_form(page, "Signed HMIS 10 Acknowledgement", scan)
    _switch(page, live_server, trainer.email)
    page.goto(f"{live_server.url}/admin/training/formsubmission/")
    for submission in request.user.form_submissions.all():
        page.locator(f'input[name="_selected_action"][value="{submission.pk}"]').check()
    page.select_option('select[name="action"]', "verify")
    _submit(page, page.locator('button[name="index"]'))
    assert page.get_by_text("2 forms verified.").is_visible()

    # 5. Trainings and forms are done, but steps 1 and 2 still gate the request.
    _switch(page, live_server, "taylor@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Gathering requirements"
    assert "Completed" in _row(page, "HMIS 10 (3 h").inner_text()
    assert "Verified" in _row(page, "Signed User Agreement").inner_text()
    assert "not executed yet" in _row(page, "Organization Agreement executed").inner_text()

    # Steps 1 and 2 complete (issue 3's services send participation_changed).
    OrganizationAgreement.objects.create(organization=agency, status="executed")
    participation_changed.send(sender=OrganizationAgreement, organization=agency)
    page.reload()
    assert _status(page) == "Gathering requirements"
    assert "Bridge Shelter" in _row(page, "Program setup confirmed").inner_text()
    Program.objects.filter(pk=shelter.pk).update(setup_status="confirmed")
    participation_changed.send(sender=Program, organization=agency)
    page.reload()
    assert _status(page) == "Ready for provisioning"
    request.refresh_from_db()
    assert page.get_by_text(deadline_text(request.provisioning_due_at)).is_visible()

    # 6. Provisioning staff see it in the queue and grant access in the admin.
    _switch(page, live_server, provisioner.email)
    page.goto(f"{live_server.url}/provisioning/")
    page.get_by_role("link", name="Taylor Newhire").click()
    page.get_by_role("link", name="Grant HMIS access").click()
    assert page.get_by_label("HMIS role").input_value() == "CES_Standard"
    page.get_by_label("HMIS username").fill("tnewhire")
    _submit(page, page.get_by_role("button", name="Grant access"))
    assert page.get_by_text("HMIS access granted to Taylor Newhire").is_visible()
    account = HMISAccount.objects.get(user=request.user)
    assert (account.hmis_username, account.hmis_role, account.organization) == ("tnewhire", "CES_Standard", agency)

    # 7. The user and the agency see it.
    _switch(page, live_server, "taylor@example.org", NEW_PASSWORD)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Access granted"
    assert page.get_by_text("HMIS username tnewhire", exact=False).is_visible()
    assert Notification.objects.filter(to_email=manager.user.email, subject__startswith="HMIS access granted").exists()
