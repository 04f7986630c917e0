"""A double click on every portal form that changes state: the same POST sent
twice at the same moment, through the test client, on PostgreSQL. Both answers
are pages or redirects with a message (never a 5xx), and the change happens
once. (The referral forms have their own, in tests/referrals/test_concurrency.py.)"""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core.models import AuditEvent
from tests.concurrency import race
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.onboarding.factories import PDF
from tests.two_factor import PortalClient

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def said(response) -> str:
    """What the person reads: the messages, and a page's form errors."""
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    for form in _forms(response):
        text += " " + " ".join(e for errors in form.errors.values() for e in errors)
    return text.strip()


def _forms(response):
    from django import forms

    contexts = response.context or []
    values = [v for c in (contexts if isinstance(contexts, list) else [contexts]) for v in c.flatten().values()]
    return [v for v in values if isinstance(v, forms.BaseForm) and v.is_bound]


def double_post(user, url, data=None):
    """POST `data` (a dict, or a function making a fresh dict per click) twice at once as `user`."""
    clients = [PortalClient(), PortalClient()]
    if user is not None:
        for each in clients:
            each.force_login(user)
    responses = [None, None]

    def click(index):
        def call():
            body = data() if callable(data) else (data or {})
            responses[index] = clients[index].post(url, body)
        return call

    outcomes = race(click(0), click(1))
    assert outcomes == ["done", "done"], outcomes
    assert all(r.status_code < 500 for r in responses), [r.status_code for r in responses]
    for response in responses:
        assert response.status_code in (200, 302, 429), response.status_code
        if response.status_code == 302 and not response["Location"].startswith("/accounts/login"):
            assert said(response), f"no message after {url}"
    return responses


def events(verb) -> int:
    return AuditEvent.objects.filter(verb=verb).count()


def pdf_upload():
    return SimpleUploadedFile("scan.pdf", PDF, content_type="application/pdf")


# --- onboarding ---------------------------------------------------------------------------------------------------

@pytest.fixture
def director(organization):
    return MembershipFactory(organization=organization, persona="executive_director").user


@pytest.fixture
def manager(organization):
    return MembershipFactory(organization=organization, persona="program_manager").user


@pytest.fixture
def implementer():
    return StaffFactory(groups=["CoC implementation"])


def test_agreement_upload(policy_rows, organization, director):
    double_post(director, reverse("onboarding:agreement-upload", args=[organization.slug]), lambda: {
        "signer_name": "Dana", "signer_title": "ED", "signed_on": (timezone.localdate() - dt.timedelta(days=1)),
        "document": pdf_upload()})
    assert events("started agreement") == 1 and events("submitted agreement") == 1


def test_agreement_submit(policy_rows, organization, director):
    from tests.onboarding.factories import AgreementFactory, add_copy

    agreement = AgreementFactory(organization=organization, status="draft", submitted_at=None)
    add_copy(agreement)
    double_post(director, reverse("onboarding:agreement-submit", args=[agreement.pk]))
    assert events("submitted agreement") == 1


def test_ces_roles(policy_rows, organization, manager):
    from onboarding.models import CESOrganizationRole

    role = CESOrganizationRole.objects.filter(active=True).first()
    double_post(manager, reverse("onboarding:ces-roles", args=[organization.slug]), {"roles": [role.pk]})
    assert events("named CES roles") == 1


def test_program_request(policy_rows, organization, manager):
    from onboarding.models import Program, ProgramType
    from tests.onboarding.factories import executed_agreement

    executed_agreement(organization)
    kind = ProgramType.objects.get(code="emergency-shelter")
    double_post(manager, reverse("onboarding:program-request", args=[organization.slug]),
                {"name": "Harbor Shelter", "program_type": kind.pk, "request_kind": "create"})
    assert Program.objects.filter(organization=organization, name="Harbor Shelter").count() == 1


@pytest.mark.parametrize("status, url, data, verb", [
    ("needs_information", "onboarding:program-answer", {"answer": "Main St"}, "answered question"),
    ("setup_complete", "onboarding:program-confirm", {}, "confirmed program setup"),
    ("setup_complete", "onboarding:program-report-problem", {"problem": "Wrong type"}, "reported a setup problem"),
])
def test_program_setup_by_the_program_manager(policy_rows, organization, manager, status, url, data, verb):
    from tests.onboarding.factories import ProgramFactory

    program = ProgramFactory(organization=organization, setup_status=status)
    responses = double_post(manager, reverse(url, args=[program.pk]), data)
    assert events(verb) == 1
    # The second click is told what happened, not that it did it again.
    assert sum("already" in said(r) or "no open question" in said(r) or "Only a setup" in said(r)
               for r in responses) == 1, [said(r) for r in responses]


def test_join(policy_rows):
    from onboarding.models import JoinRequest

    double_post(None, reverse("onboarding:join"), {
        "organization_name": "Cedar Housing", "contact_name": "Lee Cedar", "contact_email": "lee@cedar.example.org"})
    assert JoinRequest.objects.count() == 1


@pytest.mark.parametrize("data, verb", [
    ({"action": "accept", "program_manager_email": "pm@willowbend.example.org"}, "accepted"),
    ({"action": "decline", "reason": "Not in the CoC"}, "declined"),
])
def test_join_request_decision(policy_rows, implementer, data, verb):
    from onboarding import services

    request = services.join_request_create(organization_name="Willow Bend Housing", contact_name="Robin Willow",
                                           contact_email="robin@willowbend.example.org")
    double_post(implementer, reverse("onboarding:join-request", args=[request.pk]), data)
    assert events(verb) == 1


# --- invitations ---------------------------------------------------------------------------------------------------

def test_invite(policy_rows, organization, implementer):
    from accounts.models import Invitation

    double_post(implementer, reverse("organization-invite", args=[organization.slug]),
                {"email": "twin@laurel.example.org", "persona": "program_manager", "full_name": "Twin"})
    assert Invitation.objects.filter(email="twin@laurel.example.org").count() == 1
    assert events("invited a person") == 1


@pytest.mark.parametrize("url, verb", [("invitation-resend", "resent an invitation"),
                                       ("invitation-revoke", "revoked an invitation")])
def test_invitation_resend_and_revoke(policy_rows, organization, implementer, url, verb):
    from accounts import services

    invitation = services.invitation_send(actor=implementer, organization=organization,
                                          email="twin@laurel.example.org", persona="program_manager")
    responses = double_post(implementer, reverse(url, args=[invitation.pk]))
    # A resend read after the first committed is a second resend: that is a second click, not a race.
    assert events(verb) == 1 or (url == "invitation-resend" and events(verb) == 2)
    if events(verb) == 1:
        assert sum("nothing changed" in said(r) or "already" in said(r) for r in responses) == 1


def test_invitation_accept(policy_rows, organization, implementer):
    from accounts import services
    from accounts.models import Membership

    invitation = services.invitation_send(actor=implementer, organization=organization,
                                          email="twin@laurel.example.org", persona="program_manager")
    double_post(None, reverse("invitation-accept", args=[invitation.token]), {
        "full_name": "Twin Laurel", "password1": "a-long-demo-passphrase-2026",
        "password2": "a-long-demo-passphrase-2026"})
    assert Membership.objects.filter(user__email="twin@laurel.example.org").count() == 1
    assert events("accepted an invitation") == 1


# --- training ------------------------------------------------------------------------------------------------------

@pytest.fixture
def person(organization):
    return MembershipFactory(organization=organization, persona="staff").user


def test_session_register(policy_rows, person):
    from tests.training.factories import session
    from training.models import Registration

    seats = session("hmis-10")
    double_post(person, reverse("training:session-register", args=[seats.pk]))
    assert Registration.objects.filter(user=person).count() == 1


def test_registration_cancel(policy_rows, person):
    from tests.training.factories import session
    from training import services

    registration = services.session_register(actor=person, session_id=session("hmis-10").pk)
    double_post(person, reverse("training:registration-cancel", args=[registration.pk]))
    assert events("cancelled registration") == 1


def test_certificate_upload(policy_rows, person):
    from training.models import Certificate, Course

    course = Course.objects.get(code="hmis-10")
    double_post(person, reverse("training:certificate-upload"), lambda: {
        "course": course.pk, "completed_on": timezone.localdate().isoformat(), "document": pdf_upload()})
    assert Certificate.objects.filter(user=person, status="submitted").count() == 1


def test_form_upload(policy_rows, person):
    from training.models import FormSubmission

    double_post(person, reverse("training:form-upload", args=["user-agreement"]), lambda: {"document": pdf_upload()})
    assert FormSubmission.objects.filter(user=person, status="submitted").count() == 1


# --- HMIS accounts -------------------------------------------------------------------------------------------------

@pytest.fixture
def account(organization):
    account = HMISAccountFactory(organization=organization)
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    return account


def test_login_reminders(policy_rows, account):
    turn = "off" if account.login_reminders else "on"
    double_post(account.user, reverse("hmis-account-reminders"), {"login_reminders": "on"} if turn == "on" else {})
    assert events(f"login reminders turned {turn}") == 1


def test_calendar_link_reset(policy_rows, account):
    responses = double_post(account.user, reverse("hmis-account-calendar-reset"))
    resets = events("calendar link reset")
    # Two clicks, the second read after the first committed, are two resets.
    assert resets in (1, 2)
    if resets == 1:
        assert sum("just reset" in said(r) for r in responses) == 1


def test_request_reactivation(policy_rows, account):
    from hmis_access.models import HMISAccount
    from hmis_accounts.models import ReactivationRequest

    HMISAccount.objects.filter(pk=account.pk).update(status="inactive")
    double_post(account.user, reverse("hmis-account-request-reactivation", args=[account.pk]), {"note": "Back"})
    assert ReactivationRequest.objects.filter(account=account).count() == 1


@pytest.mark.parametrize("url, data, verb", [
    ("reactivation-reactivate", {}, "reactivated"),
    ("reactivation-decline", {"reason": "Left the agency"}, "declined"),
])
def test_reactivation_decision(policy_rows, organization, account, url, data, verb):
    from hmis_accounts import services as activity
    from hmis_access.models import HMISAccount

    HMISAccount.objects.filter(pk=account.pk).update(status="inactive")
    account.refresh_from_db()
    request = activity.reactivation_request_create(actor=account.user, account=account)
    staff = StaffFactory(groups=["CoC provisioning"])
    double_post(staff, reverse(url, args=[request.pk]), data)
    assert AuditEvent.objects.filter(verb=verb, object_id=str(request.pk)).count() == 1


def test_retraining_recorded(policy_rows, organization, account):
    from hmis_access.models import HMISAccount

    HMISAccount.objects.filter(pk=account.pk).update(status="inactive", retraining_required=True,
                                                     retraining_required_on=timezone.localdate())
    trainer = StaffFactory(groups=["CoC training"])
    responses = double_post(trainer, reverse("hmis-account-retraining-complete", args=[account.pk]))
    assert AuditEvent.objects.filter(verb="retraining completed", object_id=str(account.pk)).count() == 1
    assert sum("already recorded" in said(r) for r in responses) <= 1


def test_hmis_provisioning_retry(policy_rows, account, settings):
    from hmis_portal.core.models import ProvisioningCommand
    from tests.faults import spare_port

    settings.HMIS_SCIM_URL = f"http://127.0.0.1:{spare_port()}/v2"
    command = ProvisioningCommand.objects.create(subject=str(account.pk), kind="create", status="failed",
                                                 last_error="the HMIS answered 400", next_attempt_at=None)
    staff = StaffFactory(groups=["CoC provisioning"])
    responses = double_post(staff, reverse("hmis-provisioning-retry", args=[account.pk]))
    assert AuditEvent.objects.filter(verb="provisioning retried", object_id=str(command.pk)).count() == 1
    assert AuditEvent.objects.filter(verb="HMIS provisioning retried", object_id=str(account.pk)).count() == 1
    assert sum("Nothing to retry" in said(r) for r in responses) == 1
    command.refresh_from_db()
    assert command.status == "pending"


def test_identify_a_user(policy_rows, organization, manager):
    from hmis_access.models import AccessRequest
    from tests.training.factories import participating, roles

    programs = participating(organization, "access-center")
    double_post(manager, reverse("access-request-new", args=[organization.slug]), {
        "full_name": "Robin Example", "email": "robin@laurel.example.org", "new_hmis_user": "new",
        "roles": [r.pk for r in roles("housing-navigator")], "programs": [p.pk for p in programs.values()]})
    assert AccessRequest.objects.filter(user__email="robin@laurel.example.org").count() == 1

