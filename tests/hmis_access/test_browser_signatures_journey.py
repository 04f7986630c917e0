"""Under the agency-admin pack (seed 004): a new user's certificates are
uploaded and verified, the User Agreement is signed in the portal by the
user, then the Agency Administrator, then the Executive Director (an
out-of-turn signature is refused), the Agency Administrator files the User
Request Form, training staff verify it, and provisioning grants access."""

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from hmis_access.models import AccessRequest, HMISAccount
from hmis_portal.core.dates import deadline_text
from hmis_portal.core.models import Notification
from tests.browser import PASSWORD, sign_in
from tests.factories import MembershipFactory, StaffFactory
from tests.hmis_access.test_browser_access_journey import _admin_action, _row, _status, _submit, _switch
from tests.training.factories import PDF, identify, participating
from training.models import FormSignature, FormSubmission, Review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign(page, name):
    page.get_by_label("Type your full name to sign").fill(name)
    page.get_by_label("I have read the HMIS User Agreement and agree to its terms.").check()
    _submit(page, page.get_by_role("button", name="Sign", exact=True))


def test_user_agreement_signed_in_order_and_request_form_filed_by_the_agency(browser_page, live_server, tmp_path):
    call_command("load_policy", "agency-admin", stdout=io.StringIO())
    page = browser_page
    aa = MembershipFactory(persona="agency_administrator", user__full_name="Alex Admin")
    agency = aa.organization
    ed = MembershipFactory(organization=agency, persona="executive_director", user__full_name="Dana Director").user
    programs = participating(agency, "access-center")
    request = identify(agency, name="Sam Newuser", email="sam@example.org", role_codes=("housing-navigator",),
                       programs=[programs["access-center"]])
    user = request.user
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    trainer = StaffFactory(groups=["CoC training"])
    provisioner = StaffFactory(groups=["CoC provisioning"])
    scan = tmp_path / "signed.pdf"
    scan.write_bytes(PDF)

    # CoC training staff upload the blank User Agreement (version 1) in the admin.
    sign_in(page, live_server, trainer.email)
    page.goto(f"{live_server.url}/admin/training/formtemplate/add/")
    page.select_option("select[name=form]", label="User Agreement")
    page.locator("input[name=document]").set_input_files(str(scan))
    _submit(page, page.get_by_role("button", name="Save", exact=True))
    assert page.get_by_text("was added successfully").is_visible()

    # The user's checklist: the seed 004 courses, the User Agreement to sign, the agency's form.
    _switch(page, live_server, user.email)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Gathering requirements"
    # Seed 004: the form includes every certificate and the signed agreement, so it waits for them.
    waiting = _row(page, "User Request Form (filed by the agency").inner_text()
    assert "Waits for: " in waiting and "User Agreement" in waiting
    assert _row(page, "User Request Form (filed by the agency").get_by_role("link").count() == 0
    courses = [c.title for c in request.roles.get().required_courses.filter(active=True)]
    assert len(courses) == 4
    for title in courses:
        _row(page, title).get_by_role("link", name="Upload a certificate").click()
        page.get_by_label("Date on the certificate").fill("2026-11-02")
        page.locator("input[name=document]").set_input_files(str(scan))
        _submit(page, page.get_by_role("button", name="Upload certificate"))
        assert "awaiting verification" in _row(page, title).inner_text()

    # Training staff verify the certificates.
    _switch(page, live_server, trainer.email)
    page.goto(f"{live_server.url}/admin/training/certificate/")
    for certificate in user.certificates.all():
        page.locator(f'input[name="_selected_action"][value="{certificate.pk}"]').check()
    page.select_option('select[name="action"]', "verify")
    _submit(page, page.locator('button[name="index"]'))
    assert page.get_by_text("4 certificates verified.").is_visible()

    # 1. The user signs the User Agreement in the portal; a wrong name is refused.
    _switch(page, live_server, user.email)
    page.goto(f"{live_server.url}/my-access/")
    for title in courses:
        assert "Completed" in _row(page, title).inner_text()
    _submit(page, _row(page, "Signed User Agreement").get_by_role("link", name="Sign or upload"))
    assert page.get_by_test_id("blank-form").is_visible()
    _sign(page, "Somebody Else")
    assert page.get_by_text("Type your full name exactly as it is on your account").is_visible()
    _sign(page, "Sam Newuser")
    assert page.get_by_text("Next to sign: Agency Administrator").is_visible()
    assert "Signed by 1 of 3; next: Agency Administrator" in _row(page, "Signed User Agreement").inner_text()

    # 2. The Executive Director is not next: the page says who is, and the server refuses a signature.
    _switch(page, live_server, ed.email)
    person_url = live_server.url + reverse("training:form-person", kwargs={"code": "user-agreement",
                                                                        "user_id": user.pk})
    page.goto(person_url)
    assert "Waiting for the agency's Agency Administrator to sign." in page.inner_text("main"), page.inner_text("body")
    assert page.get_by_role("button", name="Sign", exact=True).count() == 0
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(person_url, form={"csrfmiddlewaretoken": csrf, "typed_name": "Dana Director",
                                                  "attested": "on"}, headers={"Referer": person_url})
    assert refused.status == 200 and "signs User Agreement before you" in refused.text()
    assert FormSignature.objects.count() == 1

    # 3. The Agency Administrator signs from the agency's users page.
    _switch(page, live_server, aa.user.email)
    page.goto(f"{live_server.url}/agencies/{agency.slug}/users/")
    _submit(page, page.get_by_role("link", name="Sign or upload: User Agreement"))
    assert page.get_by_test_id("signers").get_by_text("signed by Sam Newuser").is_visible()
    _sign(page, "Alex Admin")
    assert page.get_by_text("Next to sign: Executive Director").is_visible()

    # 4. The Executive Director follows the emailed link and signs last: the agreement is complete.
    message = Notification.objects.get(to_email=ed.email, subject__startswith="Your signature is needed")
    _switch(page, live_server, ed.email)
    page.goto(f"{live_server.url}{message.link}")
    _sign(page, "Dana Director")
    assert page.get_by_text("User Agreement signed by everyone; it is complete.").is_visible()
    agreement = FormSubmission.objects.get(user=user, form__code="user-agreement")
    assert agreement.status == Review.VERIFIED
    assert [(s.role, s.signer.full_name) for s in agreement.signatures.order_by("position")] == [
        ("user", "Sam Newuser"), ("agency_administrator", "Alex Admin"), ("executive_director", "Dana Director")]
    assert len({s.sha256 for s in agreement.signatures.all()}) == 1

    # 5. The Agency Administrator files the User Request Form (the user cannot).
    _switch(page, live_server, aa.user.email)
    page.goto(f"{live_server.url}/agencies/{agency.slug}/users/{request.pk}/")
    assert "Verified" in _row(page, "Signed User Agreement").inner_text()
    _row(page, "User Request Form").get_by_role("link", name="File").click()
    page.locator("input[name=document]").set_input_files(str(scan))
    _submit(page, page.get_by_role("button", name="Upload", exact=True))
    assert page.get_by_text("CoC training staff will verify it").is_visible()

    # 6. Training staff verify it; the request is ready.
    _switch(page, live_server, trainer.email)
    page.goto(f"{live_server.url}/admin/training/formsubmission/")
    _admin_action(page, FormSubmission.objects.get(user=user, form__code="user-request-form").pk, "verify")
    assert page.get_by_text("1 form verified.").is_visible()
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY

    # The pack's deadline is 48 clock hours (seed 004: "within 24 – 48"), so
    # the queue names the moment, not the end of a business day.
    assert request.provisioning_due_at == request.ready_at + dt.timedelta(hours=48)

    # 7. Provisioning grants access.
    _switch(page, live_server, provisioner.email)
    page.goto(f"{live_server.url}/provisioning/")
    queue_row = page.get_by_role("row").filter(has_text="Sam Newuser")
    assert deadline_text(request.provisioning_due_at) in queue_row.inner_text()
    assert "Due by end of" not in queue_row.inner_text()
    page.get_by_role("link", name="Sam Newuser").click()
    page.get_by_role("link", name="Grant HMIS access").click()
    assert page.get_by_label("HMIS role").input_value() == "CES_Standard"
    page.get_by_label("HMIS username").fill("snewuser")
    _submit(page, page.get_by_role("button", name="Grant access"))
    assert page.get_by_text(re.compile("HMIS access granted to Sam Newuser")).is_visible()
    assert HMISAccount.objects.get(user=user).hmis_username == "snewuser"
    _switch(page, live_server, user.email)
    page.goto(f"{live_server.url}/my-access/")
    assert _status(page) == "Access granted"
