"""Concurrent twins of the state changes: two people (or one double click)
making the same change at the same moment. Each time exactly one change and
one audit event happen, and the other person gets a clear refusal, never an
error. PostgreSQL only: SQLite serializes writers and cannot race."""

import pytest
from django.utils import timezone

from hmis_portal.core.audit import events_for
from hmis_portal.core.models import AuditEvent
from tests.concurrency import race as run_at_once
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.training.factories import pdf, session

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*calls):
    """`tests.concurrency.race`, accepting no outcome but a change or a clear refusal."""
    outcomes = run_at_once(*calls)
    assert not any(o is None or o.startswith("error") for o in outcomes), outcomes
    return outcomes

def test_two_trainers_verify_one_certificate_once(policy_rows, organization):
    from training import services
    from training.models import Certificate, Completion, Course

    person = MembershipFactory(organization=organization, persona="staff").user
    certificate = services.certificate_submit(actor=person, course=Course.objects.get(code="hmis-10"),
                                              completed_on=timezone.localdate(), document=pdf())
    trainers = [StaffFactory(groups=["CoC training"]) for _ in range(2)]
    outcomes = race(*[lambda t=t: services.certificate_verify(actor=t, certificate_id=certificate.pk)
                      for t in trainers])
    assert outcomes.count("done") == 1
    assert Certificate.objects.get(pk=certificate.pk).status == "verified"
    assert Completion.objects.filter(user=person, course__code="hmis-10").count() == 1


def test_two_people_take_the_last_seat_one_is_waitlisted(policy_rows, organization):
    from training import services
    from training.models import Registration

    seats = session("hmis-10", capacity=1)
    people = [MembershipFactory(organization=organization, persona="staff").user for _ in range(2)]
    race(*[lambda p=p: services.session_register(actor=p, session_id=seats.pk) for p in people])
    assert sorted(Registration.objects.values_list("status", flat=True)) == ["registered", "waitlisted"]


def test_two_implementers_start_one_setup_once(policy_rows, organization):
    from onboarding import services
    from tests.onboarding.factories import ProgramFactory

    program = ProgramFactory(organization=organization)
    staff = [StaffFactory(groups=["CoC implementation"]) for _ in range(2)]
    outcomes = race(*[lambda s=s: services.program_setup_start(actor=s, program=program) for s in staff])
    assert outcomes.count("done") == 1 and any("already in progress" in o for o in outcomes)
    assert AuditEvent.objects.filter(verb="started program setup").count() == 1


def test_two_provisioners_reactivate_one_account_once(policy_rows, organization):
    from hmis_accounts import services as activity
    from hmis_accounts.models import ReactivationRequest

    account = HMISAccountFactory(organization=organization, status="inactive")
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    request = activity.reactivation_request_create(actor=account.user, account=account)
    assert request.status == ReactivationRequest.Status.READY
    staff = [StaffFactory(groups=["CoC provisioning"]) for _ in range(2)]
    outcomes = race(*[lambda s=s: activity.hmis_account_reactivate(actor=s, reactivation_request=request)
                      for s in staff])
    assert outcomes.count("done") == 1 and any("already reactivated" in o for o in outcomes)
    assert events_for(account).filter(verb="reactivated").count() == 1


def test_a_double_click_on_cancel_session_cancels_once(policy_rows, organization):
    from training import services

    seats = session("hmis-10")
    trainer = StaffFactory(groups=["CoC training"])
    outcomes = race(*[lambda: services.session_cancel(actor=trainer, session_id=seats.pk, reason="Room closed")
                      for _ in range(2)])
    assert outcomes.count("done") == 1 and any("already cancelled" in o for o in outcomes)
    assert AuditEvent.objects.filter(verb="cancelled session").count() == 1


def test_adding_the_same_person_twice_at_once_makes_one_membership(policy_rows, organization):
    from accounts import services
    from accounts.models import Membership
    from tests.factories import UserFactory

    person = UserFactory()
    implementers = [StaffFactory(groups=["CoC implementation"]) for _ in range(2)]
    race(*[lambda s=s: services.membership_add(actor=s, organization=organization, person=person,
                                               persona="program_manager") for s in implementers])
    assert Membership.objects.filter(user=person, organization=organization).count() == 1
    assert AuditEvent.objects.filter(verb="added a person").count() == 1


def test_countersign_and_return_at_once_do_one_of_them(policy_rows):
    from onboarding import services
    from onboarding.models import OrganizationAgreement
    from tests.onboarding.factories import AgreementFactory

    agreement = AgreementFactory()
    staff = [StaffFactory(groups=["CoC implementation"]) for _ in range(2)]
    outcomes = race(lambda: services.agreement_countersign(actor=staff[0], agreement=agreement),
                    lambda: services.agreement_return(actor=staff[1], agreement=agreement, reason="Page 2 unsigned"))
    assert outcomes.count("done") == 1
    status = OrganizationAgreement.objects.get(pk=agreement.pk).status
    assert status in ("executed", "returned")
    assert events_for(agreement).filter(verb__in=["countersigned agreement", "returned agreement"]).count() == 1


def test_verify_and_return_of_one_form_at_once_do_one_of_them(policy_rows, organization):
    from training import services
    from training.models import FormSubmission, RequiredForm

    person = MembershipFactory(organization=organization, persona="staff").user
    submission = services.form_submit(actor=person, form=RequiredForm.objects.get(code="user-agreement"),
                                      document=pdf())
    trainers = [StaffFactory(groups=["CoC training"]) for _ in range(2)]
    outcomes = race(lambda: services.form_verify(actor=trainers[0], submission_id=submission.pk),
                    lambda: services.form_return(actor=trainers[1], submission_id=submission.pk, reason="Unsigned"))
    assert outcomes.count("done") == 1
    assert FormSubmission.objects.get(pk=submission.pk).status in ("verified", "returned")


def test_reactivate_and_decline_at_once_do_one_of_them(policy_rows, organization):
    from hmis_accounts import services as activity
    from hmis_accounts.models import ReactivationRequest

    account = HMISAccountFactory(organization=organization, status="inactive")
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    request = activity.reactivation_request_create(actor=account.user, account=account)
    staff = [StaffFactory(groups=["CoC provisioning"]) for _ in range(2)]
    outcomes = race(lambda: activity.hmis_account_reactivate(actor=staff[0], reactivation_request=request),
                    lambda: activity.reactivation_request_decline(actor=staff[1], reactivation_request=request,
                                                                  reason="Left the agency"))
    assert outcomes.count("done") == 1
    assert ReactivationRequest.objects.get(pk=request.pk).status in ("reactivated", "declined")


def test_two_leads_withdraw_one_request_once(policy_rows, organization):
    from hmis_access.models import AccessRequest
    from hmis_access.services import access_request_withdraw
    from tests.training.factories import identify, participating

    participating(organization, "access-center")
    request = identify(organization, programs=list(organization.programs.all()))
    leads = [MembershipFactory(organization=organization, persona=p).user
             for p in ("program_manager", "agency_administrator")]
    outcomes = race(*[lambda lead=lead: access_request_withdraw(actor=lead, access_request_id=request.pk)
                      for lead in leads])
    assert outcomes.count("done") == 1
    assert AccessRequest.objects.get(pk=request.pk).status == "withdrawn"
    assert events_for(request).filter(verb="withdrew").count() == 1


def test_a_double_click_on_an_invitation_link_joins_once(policy_rows, organization):
    import re

    from accounts import services
    from accounts.models import Membership
    from hmis_portal.core.models import Notification

    implementer = StaffFactory(groups=["CoC implementation"])
    services.invitation_send(actor=implementer, organization=organization, email="twice@laurel.example.org",
                             persona="program_manager")
    body = Notification.objects.filter(to_email="twice@laurel.example.org").latest("pk").body
    token = re.search(r"/invitations/([^/\s]+)/", body).group(1)
    outcomes = race(*[lambda: services.invitation_accept(token=token, full_name="Twice Laurel",
                                                         password="a-long-demo-passphrase-2026")
                      for _ in range(2)])
    assert outcomes.count("done") == 1
    assert Membership.objects.filter(user__email="twice@laurel.example.org", organization=organization).count() == 1


def test_two_implementers_accept_one_join_request_once(policy_rows):
    from accounts.models import Organization
    from onboarding import services

    request = services.join_request_create(organization_name="Willow Bend Housing", contact_name="Robin Willow",
                                           contact_email="robin@willowbend.example.org")
    staff = [StaffFactory(groups=["CoC implementation"]) for _ in range(2)]
    race(*[lambda s=s: services.join_request_accept(actor=s, join_request=request,
                                                    program_manager_email="pm@willowbend.example.org")
           for s in staff])
    assert Organization.objects.filter(name="Willow Bend Housing").count() == 1
    assert events_for(request).filter(verb="accepted").count() == 1
    assert AuditEvent.objects.filter(verb="created the agency").count() == 1


def test_two_program_managers_confirm_one_setup_once(policy_rows, organization):
    from onboarding import services
    from onboarding.models import Program
    from tests.onboarding.factories import ProgramFactory

    program = ProgramFactory(organization=organization, setup_status="setup_complete")
    managers = [MembershipFactory(organization=organization, persona="program_manager").user for _ in range(2)]
    outcomes = race(*[lambda m=m: services.program_setup_confirm(actor=m, program=program) for m in managers])
    assert outcomes.count("done") == 1
    assert Program.objects.get(pk=program.pk).setup_status == "confirmed"
    assert events_for(program).filter(verb__icontains="confirm").count() == 1


def test_a_registration_cancelled_twice_at_once_frees_one_seat(policy_rows, organization):
    from training import services
    from training.models import Registration

    seats = session("hmis-10", capacity=1)
    holder, waiting = [MembershipFactory(organization=organization, persona="staff").user for _ in range(2)]
    registration = services.session_register(actor=holder, session_id=seats.pk)
    services.session_register(actor=waiting, session_id=seats.pk)
    race(*[lambda: services.registration_cancel(actor=holder, registration_id=registration.pk) for _ in range(2)])
    assert Registration.objects.get(pk=registration.pk).status == "cancelled"
    assert Registration.objects.get(user=waiting).status == "registered"
    assert events_for(registration).filter(verb="cancelled registration").count() == 1


def _three_signers(organization):
    from tests.training.factories import blank_form
    from training.models import RequiredForm

    RequiredForm.objects.filter(code="user-agreement").update(
        signers=["user", "agency_administrator", "executive_director"], signing="either",
        attestation="I agree to the User Agreement.", verify_portal_signatures=False)
    blank_form("user-agreement")
    return RequiredForm.objects.get(code="user-agreement")


def test_a_double_submitted_portal_signature_signs_once(policy_rows, organization):
    from training import services
    from training.models import FormSignature, FormSubmission

    form = _three_signers(organization)
    person = MembershipFactory(organization=organization, persona="staff").user

    def sign():
        services.form_sign(actor=person, form=form, owner=person, typed_name=person.full_name, attested=True)

    outcomes = race(sign, sign)
    assert outcomes.count("done") == 1, outcomes
    assert FormSubmission.objects.filter(user=person).count() == 1
    assert FormSignature.objects.filter(signer=person).count() == 1
    assert AuditEvent.objects.filter(verb="signed form in the portal").count() == 1


def test_two_agency_administrators_take_one_place_once(policy_rows, organization):
    from training import services
    from training.models import FormSignature

    form = _three_signers(organization)
    person = MembershipFactory(organization=organization, persona="staff").user
    admins = [MembershipFactory(organization=organization, persona="agency_administrator").user for _ in range(2)]
    submission = services.form_sign(actor=person, form=form, owner=person, typed_name=person.full_name,
                                    attested=True)
    outcomes = race(*[lambda a=a: services.form_sign(actor=a, form=form, owner=person, typed_name=a.full_name,
                                                     attested=True) for a in admins])
    assert outcomes.count("done") == 1, outcomes
    assert list(FormSignature.objects.filter(submission=submission).values_list("position", flat=True)) == [0, 1]


def test_two_blank_versions_uploaded_at_once_get_two_numbers(policy_rows, organization):
    from tests.training.factories import blank_form
    from training.models import FormTemplate

    trainers = [StaffFactory(groups=["CoC training"]) for _ in range(2)]
    outcomes = race(*[lambda t=t: blank_form("user-agreement", actor=t) for t in trainers])
    assert outcomes == ["done", "done"]
    assert sorted(FormTemplate.objects.values_list("version", flat=True)) == [1, 2]
