"""More concurrent twins: each remaining state change against itself and
against the change it conflicts with, run at the same moment on PostgreSQL.
Each time one change and one audit event happen, and the other person gets a
clear refusal (or, where the service says so, the same result with nothing
written twice), never an error. Timing decides who waits for whom, so the
races that depend on it run a few times."""

import datetime as dt

import pytest
from django.utils import timezone

from hmis_portal.core.audit import events_for
from hmis_portal.core.models import AuditEvent
from tests.concurrency import race as run_at_once
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.training.factories import pdf, session

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TRIES = 3


def race(*calls):
    """`tests.concurrency.race`, accepting no outcome but a change or a clear refusal."""
    outcomes = run_at_once(*calls)
    assert not any(o is None or o.startswith("error") for o in outcomes), outcomes
    return outcomes


def one_done(outcomes, *refusals):
    """Exactly one call changed something; the other was refused with one of `refusals`."""
    assert outcomes.count("done") == 1, outcomes
    (other,) = [o for o in outcomes if o != "done"]
    assert any(r in other for r in refusals), outcomes


# --- program setup ------------------------------------------------------------------------------------------------

def _setup(organization, status):
    from tests.onboarding.factories import ProgramFactory

    return ProgramFactory(organization=organization, setup_status=status)


def _implementers(n=2):
    return [StaffFactory(groups=["CoC implementation"]) for _ in range(n)]


def _managers(organization, n=2):
    return [MembershipFactory(organization=organization, persona="program_manager").user for _ in range(n)]


SETUP_VERBS = ["asked for information", "answered question", "completed program setup", "confirmed program setup",
               "reported a setup problem", "started program setup"]


def _setup_events(program):
    return events_for(program).filter(verb__in=SETUP_VERBS).count()


def test_two_implementers_ask_the_same_question_once(policy_rows, organization):
    from onboarding import services

    for _ in range(TRIES):
        program = _setup(organization, "in_progress")
        a, b = _implementers()
        one_done(race(lambda: services.program_setup_ask(actor=a, program=program, question="Which site?"),
                      lambda: services.program_setup_ask(actor=b, program=program, question="How many beds?")),
                 "cannot be sent back with a question")
        assert _setup_events(program) == 1


def test_two_program_managers_answer_once(policy_rows, organization):
    from onboarding import services
    from onboarding.models import Program

    for _ in range(TRIES):
        program = _setup(organization, "needs_information")
        a, b = _managers(organization)
        one_done(race(lambda: services.program_setup_answer(actor=a, program=program, answer="Main St"),
                      lambda: services.program_setup_answer(actor=b, program=program, answer="Elm St")),
                 "your answer was already sent")
        assert Program.objects.get(pk=program.pk).setup_status == "in_progress"
        assert _setup_events(program) == 1


def test_two_implementers_complete_one_setup_once(policy_rows, organization):
    from onboarding import services

    for _ in range(TRIES):
        program = _setup(organization, "in_progress")
        a, b = _implementers()
        one_done(race(lambda: services.program_setup_complete(actor=a, program=program, hmis_program_id="HL-1"),
                      lambda: services.program_setup_complete(actor=b, program=program, hmis_program_id="HL-2")),
                 "already marked complete")
        assert _setup_events(program) == 1


def test_complete_and_ask_at_once_do_one_of_them(policy_rows, organization):
    from onboarding import services
    from onboarding.models import Program

    for _ in range(TRIES):
        program = _setup(organization, "in_progress")
        a, b = _implementers()
        one_done(race(lambda: services.program_setup_complete(actor=a, program=program),
                      lambda: services.program_setup_ask(actor=b, program=program, question="Which site?")),
                 "cannot be sent back with a question", "cannot be marked complete")
        assert Program.objects.get(pk=program.pk).setup_status in ("setup_complete", "needs_information")
        assert _setup_events(program) == 1


def test_answer_and_complete_at_once_never_lose_the_answer(policy_rows, organization):
    """The Program Manager answers while the implementation team completes the setup."""
    from onboarding import services
    from onboarding.models import Program

    for _ in range(TRIES):
        program = _setup(organization, "needs_information")
        (manager,) = _managers(organization, 1)
        (implementer,) = _implementers(1)
        outcomes = race(lambda: services.program_setup_answer(actor=manager, program=program, answer="Main St"),
                        lambda: services.program_setup_complete(actor=implementer, program=program))
        # Complete first is refused (the question is open); answer first lets complete follow.
        assert outcomes[0] == "done", outcomes
        program = Program.objects.get(pk=program.pk)
        assert program.answer == "Main St"
        assert _setup_events(program) == outcomes.count("done")


def test_two_program_managers_report_one_problem_once(policy_rows, organization):
    from onboarding import services

    for _ in range(TRIES):
        program = _setup(organization, "setup_complete")
        a, b = _managers(organization)
        one_done(race(lambda: services.program_setup_report_problem(actor=a, program=program, problem="Wrong type"),
                      lambda: services.program_setup_report_problem(actor=b, program=program, problem="No beds")),
                 "Only a setup marked complete can be sent back")
        assert _setup_events(program) == 1


def test_confirm_and_report_a_problem_at_once_do_one_of_them(policy_rows, organization):
    from onboarding import services
    from onboarding.models import Program

    for _ in range(TRIES):
        program = _setup(organization, "setup_complete")
        a, b = _managers(organization)
        one_done(race(lambda: services.program_setup_confirm(actor=a, program=program),
                      lambda: services.program_setup_report_problem(actor=b, program=program, problem="Wrong type")),
                 "Only a setup marked complete can be sent back", "has not finished this setup yet")
        assert Program.objects.get(pk=program.pk).setup_status in ("confirmed", "in_progress")
        assert _setup_events(program) == 1


def test_setups_of_two_programs_of_one_type_do_not_wait_for_each_other(policy_rows, organization, other_organization):
    """Only the program's own row is locked: a setup at one agency never holds
    the program type (or the agency) for another setup at the same moment."""
    import threading

    from django.db import connection, transaction

    from onboarding import services
    from onboarding.models import Program

    first, second = _setup(organization, "in_progress"), _setup(other_organization, "in_progress")
    (implementer,) = _implementers(1)
    locked, release = threading.Event(), threading.Event()

    def hold_first():
        try:
            with transaction.atomic():
                services._lock_program(first.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first)
    holder.start()
    assert locked.wait(timeout=10)
    outcome = []

    def complete_second():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                services.program_setup_complete(actor=implementer, program=second)
            outcome.append("done")
        except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
            outcome.append(f"error: {exc.__class__.__name__}")
        finally:
            connection.close()

    other = threading.Thread(target=complete_second)
    other.start()
    other.join(timeout=15)
    release.set()
    holder.join(timeout=15)
    assert outcome == ["done"]
    assert Program.objects.get(pk=second.pk).setup_status == "setup_complete"


# --- certificates and forms -------------------------------------------------------------------------------------

def _certificate(organization):
    from training import services
    from training.models import Course

    person = MembershipFactory(organization=organization, persona="staff").user
    return services.certificate_submit(actor=person, course=Course.objects.get(code="hmis-10"),
                                       completed_on=timezone.localdate(), document=pdf())


def _trainers(n=2):
    return [StaffFactory(groups=["CoC training"]) for _ in range(n)]


def test_two_trainers_return_one_certificate_once(policy_rows, organization):
    from training import services
    from training.models import Certificate

    certificate = _certificate(organization)
    a, b = _trainers()
    one_done(race(lambda: services.certificate_return(actor=a, certificate_id=certificate.pk, reason="Unreadable"),
                  lambda: services.certificate_return(actor=b, certificate_id=certificate.pk, reason="Wrong course")),
             "returned; nothing changed")
    assert Certificate.objects.get(pk=certificate.pk).status == "returned"
    assert events_for(certificate).filter(verb="returned certificate").count() == 1


def test_return_and_verify_of_one_certificate_at_once_do_one_of_them(policy_rows, organization):
    from training import services
    from training.models import Certificate, Completion

    for _ in range(TRIES):
        certificate = _certificate(organization)
        a, b = _trainers()
        one_done(race(lambda: services.certificate_return(actor=a, certificate_id=certificate.pk, reason="Blurry"),
                      lambda: services.certificate_verify(actor=b, certificate_id=certificate.pk)),
                 "nothing changed")
        status = Certificate.objects.get(pk=certificate.pk).status
        assert status in ("returned", "verified")
        assert Completion.objects.filter(certificate=certificate).count() == (status == "verified")
        assert events_for(certificate).filter(verb__in=["returned certificate", "verified certificate"]).count() == 1


def test_two_trainers_return_one_form_once(policy_rows, organization):
    from training import services
    from training.models import FormSubmission, RequiredForm

    person = MembershipFactory(organization=organization, persona="staff").user
    submission = services.form_submit(actor=person, form=RequiredForm.objects.get(code="user-agreement"),
                                      document=pdf())
    a, b = _trainers()
    one_done(race(lambda: services.form_return(actor=a, submission_id=submission.pk, reason="Unsigned"),
                  lambda: services.form_return(actor=b, submission_id=submission.pk, reason="Page missing")),
             "returned; nothing changed")
    assert FormSubmission.objects.get(pk=submission.pk).status == "returned"
    assert events_for(submission).filter(verb="returned form").count() == 1


def test_one_person_uploading_a_form_twice_at_once_keeps_one_waiting(policy_rows, organization):
    from training import services
    from training.models import FormSubmission, RequiredForm

    person = MembershipFactory(organization=organization, persona="staff").user
    form = RequiredForm.objects.get(code="user-agreement")
    race(*[lambda: services.form_submit(actor=person, form=form, document=pdf()) for _ in range(2)])
    assert FormSubmission.objects.filter(user=person, form=form, status="submitted").count() == 1


def test_one_person_uploading_a_certificate_twice_at_once_keeps_one_waiting(policy_rows, organization):
    from training import services
    from training.models import Certificate, Course

    person = MembershipFactory(organization=organization, persona="staff").user
    course = Course.objects.get(code="hmis-10")
    race(*[lambda: services.certificate_submit(actor=person, course=course, completed_on=timezone.localdate(),
                                               document=pdf()) for _ in range(2)])
    assert Certificate.objects.filter(user=person, course=course, status="submitted").count() == 1


# --- invitations -------------------------------------------------------------------------------------------------

def _invite(organization, implementer, email="twin@laurel.example.org"):
    from accounts import services

    return services.invitation_send(actor=implementer, organization=organization, email=email,
                                    persona="program_manager")


def test_sending_the_same_invitation_twice_at_once_makes_one(policy_rows, organization):
    from accounts import services
    from accounts.models import Invitation

    for n in range(TRIES):
        email = f"twin{n}@laurel.example.org"
        a, b = _implementers()
        race(*[lambda s=s: services.invitation_send(actor=s, organization=organization, email=email,
                                                    persona="program_manager") for s in (a, b)])
        assert Invitation.objects.filter(organization=organization, email=email).count() == 1
        assert AuditEvent.objects.filter(verb="invited a person", reason__startswith=email).count() == 1


def test_two_resends_at_once_send_one_new_link(policy_rows, organization):
    from accounts import services
    from hmis_portal.core.models import Notification

    for n in range(TRIES):
        email = f"resend{n}@laurel.example.org"
        implementer, other = _implementers()
        invitation = _invite(organization, implementer, email)
        one_done(race(lambda: services.invitation_resend(actor=implementer, invitation=invitation),
                      lambda: services.invitation_resend(actor=other, invitation=invitation)),
                 "was just emailed")
        assert AuditEvent.objects.filter(verb="resent an invitation", reason__startswith=email).count() == 1
        assert Notification.objects.filter(to_email=email).count() == 2  # the invitation and one new link


def test_resend_and_revoke_at_once_leave_no_live_link(policy_rows, organization):
    from accounts import services
    from accounts.models import Invitation

    for n in range(TRIES):
        email = f"revoke{n}@laurel.example.org"
        implementer, other = _implementers()
        invitation = _invite(organization, implementer, email)
        outcomes = race(lambda: services.invitation_resend(actor=implementer, invitation=invitation),
                        lambda: services.invitation_revoke(actor=other, invitation=invitation))
        # Revoke always wins: a resend after it is refused, a revoke after a resend still revokes.
        assert outcomes[1] == "done", outcomes
        assert outcomes[0] == "done" or "was revoked" in outcomes[0], outcomes
        assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
        assert AuditEvent.objects.filter(verb="revoked an invitation", reason__startswith=email).count() == 1


def test_two_revokes_at_once_revoke_once_and_tell_the_second(policy_rows, organization):
    from accounts import services

    implementer, other = _implementers()
    invitation = _invite(organization, implementer)
    one_done(race(lambda: services.invitation_revoke(actor=implementer, invitation=invitation),
                  lambda: services.invitation_revoke(actor=other, invitation=invitation)),
             "was already revoked")
    assert AuditEvent.objects.filter(verb="revoked an invitation").count() == 1


def test_revoke_and_accept_at_once_do_one_of_them(policy_rows, organization):
    from accounts import services
    from accounts.models import Invitation, Membership

    for n in range(TRIES):
        email = f"accept{n}@laurel.example.org"
        implementer, = _implementers(1)
        invitation = _invite(organization, implementer, email)
        token = invitation.token
        one_done(race(lambda: services.invitation_revoke(actor=implementer, invitation=invitation),
                      lambda: services.invitation_accept(token=token, full_name="Twin Laurel",
                                                         password="a-long-demo-passphrase-2026")),
                 "invitation was already accepted", "invitation was withdrawn")
        invitation = Invitation.objects.get(pk=invitation.pk)
        joined = Membership.objects.filter(user__email=email, organization=organization).exists()
        assert (invitation.accepted_at is not None) == joined != (invitation.revoked_at is not None)


# --- attendance ----------------------------------------------------------------------------------------------------

def _started_registration(organization, seats=None):
    from training.models import Registration

    seats = seats or session("hmis-10", days=-1)
    person = MembershipFactory(organization=organization, persona="staff").user
    return Registration.objects.create(session=seats, user=person, status="registered")


ATTENDANCE_VERBS = ["recorded attendance", "recorded no-show"]


def test_two_trainers_record_attendance_once(policy_rows, organization):
    from training import services
    from training.models import Completion

    for _ in range(TRIES):
        registration = _started_registration(organization)
        a, b = _trainers()
        one_done(race(*[lambda t=t: services.registration_record_attendance(actor=t, registration_id=registration.pk)
                        for t in (a, b)]), "attendance is already recorded")
        assert Completion.objects.filter(registration=registration).count() == 1
        assert events_for(registration).filter(verb__in=ATTENDANCE_VERBS).count() == 1


def test_attendance_and_no_show_at_once_record_one_of_them(policy_rows, organization):
    from training import services
    from training.models import Completion, Registration

    for _ in range(TRIES):
        registration = _started_registration(organization)
        a, b = _trainers()
        one_done(race(lambda: services.registration_record_attendance(actor=a, registration_id=registration.pk),
                      lambda: services.registration_record_no_show(actor=b, registration_id=registration.pk)),
                 "attendance is already recorded")
        status = Registration.objects.get(pk=registration.pk).status
        assert Completion.objects.filter(registration=registration).count() == (status == "attended")
        assert events_for(registration).filter(verb__in=ATTENDANCE_VERBS).count() == 1


def test_attendance_and_cancelling_the_session_at_once_never_fail(policy_rows, organization):
    """The person also holds a seat in a later session of the course, which the
    attendance releases: both changes lock the course's sessions."""
    from training import services
    from training.models import Completion, Registration

    for _ in range(TRIES):
        seats = session("hmis-10", days=-1)
        registration = _started_registration(organization, seats)
        later = session("hmis-10", days=5)
        services.session_register(actor=registration.user, session_id=later.pk)
        a, b = _trainers()
        outcomes = race(lambda: services.registration_record_attendance(actor=a, registration_id=registration.pk),
                        lambda: services.session_cancel(actor=b, session_id=seats.pk, reason="Room closed"))
        # Cancelling releases a registration before its attendance is recorded;
        # a registration whose attendance is recorded stays as it is.
        assert outcomes[1] == "done", outcomes
        status = Registration.objects.get(pk=registration.pk).status
        assert status in ("attended", "cancelled")
        assert outcomes[0] == "done" if status == "attended" else "cancelled" in outcomes[0], outcomes
        assert Completion.objects.filter(registration=registration).count() == (status == "attended")


# --- HMIS accounts -----------------------------------------------------------------------------------------------

def test_two_trainers_record_one_retraining_once(policy_rows, organization):
    from hmis_accounts import services as activity

    for _ in range(TRIES):
        account = HMISAccountFactory(organization=organization, status="inactive", retraining_required=True,
                                     retraining_required_on=timezone.localdate() - dt.timedelta(days=3))
        a, b = (StaffFactory(groups=["CoC training"]) for _ in range(2))
        one_done(race(*[lambda t=t: activity.hmis_account_record_retraining(actor=t, account=account)
                        for t in (a, b)]), "already recorded")
        assert events_for(account).filter(verb="retraining completed").count() == 1


def test_two_calendar_link_resets_at_once_reset_it_once(policy_rows, organization):
    from hmis_accounts.services import calendar_link_reset
    from hmis_access.models import HMISAccount

    for _ in range(TRIES):
        account = HMISAccountFactory(organization=organization)
        old = account.calendar_token
        one_done(race(*[lambda: calendar_link_reset(actor=account.user, account=account) for _ in range(2)]),
                 "was just reset")
        assert HMISAccount.objects.get(pk=account.pk).calendar_token != old
        assert events_for(account).filter(verb="calendar link reset").count() == 1


def test_two_reactivation_requests_at_once_make_one(policy_rows, organization):
    from hmis_accounts import services as activity
    from hmis_accounts.models import ReactivationRequest

    account = HMISAccountFactory(organization=organization, status="inactive")
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    race(*[lambda: activity.reactivation_request_create(actor=account.user, account=account) for _ in range(2)])
    assert ReactivationRequest.objects.filter(account=account).count() == 1


def test_login_reminders_switched_twice_at_once_end_in_one_of_the_two(policy_rows, organization):
    from hmis_accounts import services as activity
    from hmis_access.models import HMISAccount

    account = HMISAccountFactory(organization=organization)
    race(lambda: activity.hmis_account_set_login_reminders(actor=account.user, account=account, enabled=False),
         lambda: activity.hmis_account_set_login_reminders(actor=account.user, account=account, enabled=True))
    assert HMISAccount.objects.get(pk=account.pk).login_reminders in (True, False)


# --- CES roles, joining, memberships ------------------------------------------------------------------------------

def test_ces_roles_set_twice_at_once_end_in_one_of_the_two_sets(policy_rows, organization):
    from onboarding import services
    from onboarding.models import CESOrganizationRole, OrganizationCESRole

    roles = list(CESOrganizationRole.objects.filter(active=True).order_by("pk"))
    first, second = {roles[0].pk}, {roles[1].pk, roles[2].pk}
    for _ in range(TRIES):
        OrganizationCESRole.objects.filter(organization=organization).delete()
        AuditEvent.objects.filter(verb="named CES roles").delete()
        a, b = _managers(organization)
        outcomes = race(
            lambda: services.ces_roles_set(actor=a, organization=organization,
                                           roles=[r for r in roles if r.pk in first]),
            lambda: services.ces_roles_set(actor=b, organization=organization,
                                           roles=[r for r in roles if r.pk in second]))
        assert outcomes == ["done", "done"], outcomes
        named = set(OrganizationCESRole.objects.filter(organization=organization).values_list("role_id", flat=True))
        assert named in (first, second)
        assert AuditEvent.objects.filter(verb="named CES roles").count() == 2


def _join_request():
    from onboarding import services

    return services.join_request_create(organization_name="Willow Bend Housing", contact_name="Robin Willow",
                                        contact_email="robin@willowbend.example.org")


def test_decline_and_accept_of_one_join_request_at_once_do_one_of_them(policy_rows):
    from accounts.models import Organization
    from onboarding import services
    from onboarding.models import JoinRequest

    for _ in range(TRIES):
        Organization.objects.filter(name="Willow Bend Housing").delete()
        request = _join_request()
        a, b = _implementers()
        one_done(race(lambda: services.join_request_decline(actor=a, join_request=request, reason="Not in the CoC"),
                      lambda: services.join_request_accept(actor=b, join_request=request,
                                                           program_manager_email="pm@willowbend.example.org")),
                 "already accepted", "was declined")
        status = JoinRequest.objects.get(pk=request.pk).status
        assert Organization.objects.filter(name="Willow Bend Housing").count() == (status == "accepted")
        assert events_for(request).filter(verb__in=["accepted", "declined"]).count() == 1


def test_two_declines_at_once_decline_once_and_tell_the_second(policy_rows):
    from hmis_portal.core.models import Notification
    from onboarding import services

    request = _join_request()
    a, b = _implementers()
    one_done(race(lambda: services.join_request_decline(actor=a, join_request=request, reason="Not in the CoC"),
                  lambda: services.join_request_decline(actor=b, join_request=request, reason="Duplicate")),
             "was already declined")
    assert events_for(request).filter(verb="declined").count() == 1
    assert Notification.objects.filter(subject="Your request to join HMIS").count() == 1


def test_two_accepts_at_once_tell_the_second_it_was_just_accepted(policy_rows):
    from onboarding import services

    request = _join_request()
    a, b = _implementers()
    one_done(race(*[lambda s=s: services.join_request_accept(actor=s, join_request=request,
                                                             program_manager_email="pm@willowbend.example.org")
                    for s in (a, b)]), "was already accepted")
    assert events_for(request).filter(verb="accepted").count() == 1


def test_removing_one_membership_twice_at_once_removes_it_once(policy_rows, organization):
    from accounts import services
    from accounts.models import Membership

    membership = MembershipFactory(organization=organization, persona="agency_administrator")
    race(*[lambda s=s: services.membership_remove(actor=s, membership=membership) for s in _implementers()])
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(verb="removed a person").count() == 1


# --- agreements and access requests ------------------------------------------------------------------------------

def test_two_directors_submit_one_draft_agreement_once(policy_rows, organization):
    from onboarding import services
    from tests.onboarding.factories import AgreementFactory, add_copy

    agreement = AgreementFactory(organization=organization, status="draft", submitted_at=None)
    add_copy(agreement)
    directors = [MembershipFactory(organization=organization, persona="executive_director").user for _ in range(2)]
    one_done(race(*[lambda d=d: services.agreement_submit(actor=d, agreement=agreement) for d in directors]),
             "already submitted")
    assert events_for(agreement).filter(verb="submitted agreement").count() == 1


def test_the_expiry_job_run_twice_at_once_expires_once(policy_rows, organization):
    from onboarding import services
    from onboarding.models import OrganizationAgreement
    from tests.onboarding.factories import executed_agreement

    old = executed_agreement(organization, expires_on=timezone.localdate() - dt.timedelta(days=1))
    outcomes = race(lambda: services.agreement_expire(agreement_pk=old.pk, today=timezone.localdate()),
                    lambda: services.agreement_expire(agreement_pk=old.pk, today=timezone.localdate()))
    assert outcomes == ["done", "done"]
    assert OrganizationAgreement.objects.get(pk=old.pk).status == "expired"
    assert events_for(old).filter(verb="agreement expired").count() == 1


def test_two_program_managers_request_the_same_program_once(policy_rows, organization):
    from onboarding import services
    from onboarding.models import Program, ProgramType
    from tests.onboarding.factories import executed_agreement

    executed_agreement(organization)
    kind = ProgramType.objects.get(code="emergency-shelter")
    a, b = _managers(organization)
    one_done(race(*[lambda m=m: services.program_setup_request(actor=m, organization=organization,
                                                               name="Harbor Shelter", program_type=kind)
                    for m in (a, b)]), "already has a program with this name")
    assert Program.objects.filter(organization=organization, name__iexact="Harbor Shelter").count() == 1


def test_two_seat_changes_and_a_registration_at_once_never_overbook(policy_rows, organization):
    from training import services
    from training.models import Registration

    seats = session("hmis-10", capacity=1)
    people = [MembershipFactory(organization=organization, persona="staff").user for _ in range(2)]
    services.session_register(actor=people[0], session_id=seats.pk)
    (trainer,) = _trainers(1)
    race(lambda: services.session_set_capacity(actor=trainer, session_id=seats.pk, capacity=2),
         lambda: services.session_register(actor=people[1], session_id=seats.pk))
    assert Registration.objects.filter(session=seats, status="registered").count() == 2


def test_the_same_request_to_join_sent_twice_at_once_is_one_request(policy_rows):
    from onboarding import services
    from onboarding.models import JoinRequest

    for n in range(TRIES):
        race(*[lambda: services.join_request_create(
            organization_name=f"Cedar Housing {n}", contact_name="Lee Cedar", contact_email="lee@cedar.example.org")
            for _ in range(2)])
        assert JoinRequest.objects.filter(organization_name=f"Cedar Housing {n}").count() == 1
        (request,) = JoinRequest.objects.filter(organization_name=f"Cedar Housing {n}")
        assert events_for(request).filter(verb="asked to join").count() == 1


def test_attendance_and_the_person_cancelling_at_once_do_one_of_them(policy_rows, organization):
    from training import services
    from training.models import Completion, Registration

    for _ in range(TRIES):
        registration = _started_registration(organization)
        (trainer,) = _trainers(1)
        one_done(race(lambda: services.registration_record_attendance(actor=trainer, registration_id=registration.pk),
                      lambda: services.registration_cancel(actor=registration.user, registration_id=registration.pk)),
                 "Attendance is already recorded", "cancelled this registration")
        status = Registration.objects.get(pk=registration.pk).status
        assert status in ("attended", "cancelled")
        assert Completion.objects.filter(registration=registration).count() == (status == "attended")


def test_seats_changed_while_the_session_is_cancelled_never_fail(policy_rows):
    from training import services
    from training.models import TrainingSession

    seats = session("hmis-10", capacity=1)
    a, b = _trainers()
    outcomes = race(lambda: services.session_set_capacity(actor=a, session_id=seats.pk, capacity=3),
                    lambda: services.session_cancel(actor=b, session_id=seats.pk, reason="Room closed"))
    assert outcomes[1] == "done" and (outcomes[0] == "done" or "cancelled" in outcomes[0]), outcomes
    assert TrainingSession.objects.get(pk=seats.pk).cancelled
