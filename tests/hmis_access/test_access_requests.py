"""Identifying users, the derived checklist, gating, readiness and granting."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from hmis_access.checklist import build_checklist
from accounts.models import Membership, User
from hmis_access.models import AccessRequest, HMISAccount
from hmis_access.services import (access_request_create, access_request_grant, access_requests_refresh,
                                  provisioning_due, refresh_for_organization)
from hmis_portal.core.calendar import end_of_day
from hmis_portal.core.models import AuditEvent, Holiday, Notification
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory
from tests.training.factories import (agreement, complete, finish_everything, identify, manager_of, participating,
                                      program, roles)

pytestmark = pytest.mark.django_db
LA = zoneinfo.ZoneInfo("America/Los_Angeles")


@pytest.fixture
def agency(organization):
    manager_of(organization)
    participating(organization, "access-center", "permanent-housing", "outreach")
    return organization


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


@pytest.fixture
def provisioner():
    return StaffFactory(groups=["CoC provisioning"])


def _programs(org, *codes):
    return list(org.programs.filter(program_type__code__in=codes))


# --- identifying a user --------------------------------------------------

def test_identifying_a_new_user_creates_their_login_and_emails_a_password_link(agency):
    request = identify(agency, email="New.Person@Example.org", programs=_programs(agency, "access-center"))
    user = request.user
    assert user.email == "new.person@example.org" and not user.has_usable_password()
    assert Membership.objects.filter(user=user, organization=agency, persona="staff").exists()
    message = Notification.objects.get(to_email=user.email)
    assert "/accounts/reset/" in message.body and message.subject == "Your HMIS Portal login"
    assert AuditEvent.objects.filter(verb="identified user", object_id=str(request.pk)).exists()


def _nothing_changed(before_users):
    assert AccessRequest.objects.count() == 0
    assert User.objects.count() == before_users


def test_a_role_that_does_not_fit_the_agency_s_programs_is_refused(organization):
    participating(organization, "permanent-housing")
    manager_of(organization)
    before = User.objects.count()
    with pytest.raises(ValidationError) as exc:
        identify(organization, role_codes=("outreach",), programs=_programs(organization, "permanent-housing"))
    assert "Outreach needs a program of type Outreach" in str(exc.value) and organization.name in str(exc.value)
    _nothing_changed(before)


def test_a_role_needs_one_of_the_chosen_programs_to_fit(agency):
    before = User.objects.count()
    with pytest.raises(ValidationError, match="tick the program"):
        identify(agency, role_codes=("outreach",), programs=_programs(agency, "permanent-housing"))
    _nothing_changed(before)


def test_a_program_of_another_agency_is_refused(agency, other_organization):
    elsewhere = program(other_organization, "access-center")
    manager_of(agency)
    before = User.objects.count()
    with pytest.raises(ValidationError, match="Choose only programs of"):
        identify(agency, programs=[elsewhere])
    _nothing_changed(before)


def test_an_email_already_used_by_another_agency_s_user_is_refused(agency, outsider):
    before = User.objects.count()
    with pytest.raises(ValidationError, match="already used by a person at another agency"):
        identify(agency, email=outsider.email.upper(), programs=_programs(agency, "access-center"))
    _nothing_changed(before)


def test_a_coc_staff_email_is_refused(agency, trainer):
    with pytest.raises(ValidationError, match="CoC staff"):
        identify(agency, email=trainer.email, programs=_programs(agency, "access-center"))
    assert AccessRequest.objects.count() == 0


def test_a_second_open_request_for_the_same_person_is_refused(agency):
    first = identify(agency, programs=_programs(agency, "access-center"))
    with pytest.raises(ValidationError, match="already has an open access request"):
        identify(agency, email=first.user.email, programs=_programs(agency, "access-center"))
    assert AccessRequest.objects.count() == 1


def test_a_person_with_active_hmis_access_is_refused(agency):
    person = MembershipFactory(organization=agency).user
    HMISAccountFactory(user=person, organization=agency)
    with pytest.raises(ValidationError, match="already has HMIS access"):
        identify(agency, email=person.email, programs=_programs(agency, "access-center"))
    assert AccessRequest.objects.count() == 0


def test_an_existing_member_of_the_agency_is_reused_without_a_new_login(agency):
    person = MembershipFactory(organization=agency).user
    request = identify(agency, email=person.email, programs=_programs(agency, "access-center"))
    assert request.user == person and User.objects.filter(email=person.email).count() == 1
    assert Notification.objects.get(to_email=person.email).subject == "HMIS access requested for you"


def test_no_role_and_no_name_get_clear_messages(agency):
    with pytest.raises(ValidationError) as exc:
        identify(agency, role_codes=(), name="", programs=[])
    assert "Choose at least one CES role" in str(exc.value) and "full name" in str(exc.value)


# --- the checklist -------------------------------------------------------

def test_new_user_checklist_lists_hmis_10_the_acknowledgement_and_the_highest_role(agency):
    request = identify(agency, role_codes=("housing-provider", "housing-navigator"),
                       programs=_programs(agency, "access-center", "permanent-housing"))
    checklist = build_checklist(request)
    assert [i.label.split(" (")[0] for i in checklist.items] == [
        "Organization Agreement executed", "Program setup confirmed", "HMIS 10", "HMIS 509 full class",
        "HMIS 511", "Signed HMIS 10 Acknowledgement", "Signed User Agreement"]
    # The access matrix: CES_Standard lacks the Housing Provider's resource list and vacancy form; the least
    # access with every capability of both roles is the Community Coordinator's.
    assert checklist.hmis_role == "CES_Coordinator" and checklist.left_out == []


def test_a_new_housing_provider_signs_no_hmis_10_acknowledgement_for_a_course_they_never_take(agency):
    request = identify(agency, role_codes=("housing-provider",), programs=_programs(agency, "permanent-housing"))
    labels = [i.label.split(" (")[0] for i in build_checklist(request).items]
    assert labels == ["Organization Agreement executed", "Program setup confirmed", "HMIS 511",
                      "Signed User Agreement"]


def test_a_new_navigator_takes_hmis_10_and_signs_its_acknowledgement(agency):
    request = identify(agency, role_codes=("housing-navigator",), programs=_programs(agency, "access-center"))
    labels = [i.label.split(" (")[0] for i in build_checklist(request).items]
    assert "HMIS 10" in labels and "Signed HMIS 10 Acknowledgement" in labels


def test_existing_user_checklist_has_no_hmis_10_and_keeps_what_they_completed(agency):
    person = MembershipFactory(organization=agency).user
    complete(person, "hmis-509-full")
    request = identify(agency, email=person.email, new_user=False, programs=_programs(agency, "access-center"))
    checklist = build_checklist(request)
    labels = [i.label for i in checklist.items]
    assert not any("HMIS 10" in label for label in labels)
    course = next(i for i in checklist.items if i.kind == "course")
    assert course.done and course.status.startswith("Completed")


# --- gating and readiness -----------------------------------------------

def test_ready_only_when_steps_1_and_2_and_every_item_are_met(organization, trainer):
    from onboarding.models import OrganizationAgreement, Program
    from onboarding.signals import participation_changed

    navigation = program(organization, "access-center", confirmed=False)
    request = identify(organization, programs=[navigation])
    finish_everything(request, trainer)
    assert request.status == "open"
    assert [i.kind for i in build_checklist(request).blockers] == ["agreement", "programs"]

    OrganizationAgreement.objects.create(organization=organization, status="executed")
    participation_changed.send(sender=OrganizationAgreement, organization=organization)
    request.refresh_from_db()
    assert request.status == "open"
    assert [i.kind for i in build_checklist(request).blockers] == ["programs"]

    Program.objects.filter(pk=navigation.pk).update(setup_status="confirmed")
    participation_changed.send(sender=Program, organization=organization)
    request.refresh_from_db()
    assert request.status == "ready" and request.provisioning_due_at is not None
    assert AuditEvent.objects.filter(verb="became ready for provisioning", object_id=str(request.pk)).count() == 1


def test_readiness_is_lost_when_the_agreement_stops_being_in_force(agency, trainer):
    request = finish_everything(identify(agency, programs=_programs(agency, "access-center")), trainer)
    assert request.status == "ready"
    agency.agreements.update(status="expired")
    refresh_for_organization(organization=agency)
    request.refresh_from_db()
    assert request.status == "open" and request.provisioning_due_at is None



def _open_requests(agency, count):
    """`count` more open requests of the agency, each with a course done."""
    made = []
    for _ in range(count):
        request = identify(agency, programs=_programs(agency, "access-center"))
        complete(request.user, "hmis-10")
        made.append(request)
    return made


def test_refreshing_an_agency_s_requests_costs_the_same_queries_at_2_and_10(agency, django_assert_max_num_queries):
    _open_requests(agency, 2)
    with django_assert_max_num_queries(40) as few:
        refresh_for_organization(organization=agency)
    _open_requests(agency, 8)
    assert AccessRequest.objects.filter(organization=agency, status="open").count() == 10
    with django_assert_max_num_queries(len(few.captured_queries)):
        refresh_for_organization(organization=agency)
    assert AccessRequest.objects.filter(organization=agency, status="open").count() == 10


def test_one_refresh_of_many_requests_moves_and_audits_each_as_one_would(agency, trainer):
    ready = [finish_everything(identify(agency, programs=_programs(agency, "access-center")), trainer)
             for _ in range(3)]
    assert [r.status for r in ready] == ["ready"] * 3
    gone = identify(agency, programs=_programs(agency, "access-center"))
    AccessRequest.objects.filter(pk=gone.pk).update(status="withdrawn")
    agency.agreements.update(status="expired")
    refreshed = access_requests_refresh(access_requests=[r.pk for r in ready] + [gone.pk])
    assert sorted(r.pk for r in refreshed) == sorted(r.pk for r in ready)
    assert {r.status for r in refreshed} == {"open"}
    for request in ready:
        request.refresh_from_db()
        assert request.status == "open" and request.ready_at is None and request.provisioning_due_at is None
        event = AuditEvent.objects.get(verb="no longer ready", object_id=str(request.pk))
        assert "Organization Agreement executed" in event.reason
    assert AccessRequest.objects.get(pk=gone.pk).status == "withdrawn"
    # Nothing changed since: a second refresh moves nothing and audits nothing.
    events = AuditEvent.objects.count()
    access_requests_refresh(access_requests=AccessRequest.objects.filter(organization=agency))
    assert AuditEvent.objects.count() == events

def test_the_last_verified_form_makes_the_request_ready_and_tells_provisioning(agency, trainer, provisioner):
    from training import services
    from training.models import RequiredForm
    from tests.training.factories import pdf

    person_request = identify(agency, new_user=False, role_codes=("housing-provider",),
                              programs=_programs(agency, "permanent-housing"))
    complete(person_request.user, "hmis-511")
    submission = services.form_submit(actor=person_request.user, form=RequiredForm.objects.get(code="user-agreement"),
                                      document=pdf())
    person_request.refresh_from_db()
    assert person_request.status == "open"
    with time_machine.travel(dt.datetime(2026, 11, 25, 10, tzinfo=LA)):
        services.form_verify(actor=trainer, submission_id=submission.pk)
    person_request.refresh_from_db()
    assert person_request.status == "ready"
    assert person_request.provisioning_due_at == end_of_day(dt.date(2026, 12, 1))
    assert Notification.objects.filter(to_email=provisioner.email, subject__contains="ready to provision").exists()


# --- the deadline ---------------------------------------------------------

@pytest.mark.parametrize("ready_at,due", [
    # Wednesday before Thanksgiving 2026: Thu is a holiday → Fri, Mon, Tue.
    (dt.datetime(2026, 11, 25, 9, 0, tzinfo=LA), dt.date(2026, 12, 1)),
    # Ready on Thanksgiving itself counts from the next business day.
    (dt.datetime(2026, 11, 26, 11, 0, tzinfo=LA), dt.date(2026, 12, 1)),
    # Friday afternoon → Wednesday.
    (dt.datetime(2026, 12, 4, 16, 30, tzinfo=LA), dt.date(2026, 12, 9)),
    # Friday 11 p.m. in Los Angeles is Saturday in UTC, still Friday for the CoC.
    (dt.datetime(2026, 12, 4, 23, 30, tzinfo=LA), dt.date(2026, 12, 9)),
    # Friday afternoon before a Monday holiday (MLK day 2027) → Tue, Wed, Thu.
    (dt.datetime(2027, 1, 15, 15, 0, tzinfo=LA), dt.date(2027, 1, 21)),
    # Ready on a Saturday → Mon, Tue, Wed.
    (dt.datetime(2026, 12, 5, 10, 0, tzinfo=LA), dt.date(2026, 12, 9)),
    # Friday before Christmas (observed Fri Dec 25) → Mon 28, Tue 29, Wed 30.
    (dt.datetime(2026, 12, 24, 16, 0, tzinfo=LA), dt.date(2026, 12, 30)),
])
def test_provisioning_due_date(ready_at, due):
    assert provisioning_due(ready_at) == end_of_day(due)


def test_the_deadline_follows_the_policy_and_the_coc_s_own_closures():
    from hmis_access.models import AccessPolicy

    Holiday.objects.create(date=dt.date(2026, 11, 27), name="Day after Thanksgiving")
    assert provisioning_due(dt.datetime(2026, 11, 25, 9, tzinfo=LA)) == end_of_day(dt.date(2026, 12, 2))
    AccessPolicy.objects.filter(pk=1).update(provisioning_business_days=1)
    assert provisioning_due(dt.datetime(2026, 11, 25, 9, tzinfo=LA)) == end_of_day(dt.date(2026, 11, 30))


# --- granting ------------------------------------------------------------

def test_granting_a_ready_request_creates_the_hmis_account_and_tells_user_and_agency(agency, trainer, provisioner):
    lead = manager_of(agency)
    request = finish_everything(identify(agency, actor=lead, role_codes=("housing-navigator", "outreach"),
                                         programs=_programs(agency, "access-center", "outreach")), trainer)
    Notification.objects.all().delete()
    access_request_grant(actor=provisioner, access_request_id=request.pk, hmis_username="rexample",
                         hmis_role="CES_Outreach")
    request.refresh_from_db()
    assert request.status == "provisioned" and request.provisioned_by == provisioner
    account = HMISAccount.objects.get(user=request.user)
    assert (account.hmis_username, account.hmis_role, account.organization, account.status) == (
        "rexample", "CES_Outreach", agency, "active")
    recipients = set(Notification.objects.values_list("to_email", flat=True))
    assert {request.user.email, lead.email} <= recipients


def test_granting_a_request_that_is_not_ready_changes_nothing(agency, provisioner):
    request = identify(agency, programs=_programs(agency, "access-center"))
    with pytest.raises(ValidationError, match="not ready for provisioning. Still waiting on: HMIS 10"):
        access_request_grant(actor=provisioner, access_request_id=request.pk, hmis_username="u1",
                             hmis_role="CES_Standard")
    request.refresh_from_db()
    assert request.status == "open" and not HMISAccount.objects.exists()


def test_granting_twice_changes_nothing_the_second_time(agency, trainer, provisioner):
    request = finish_everything(identify(agency, programs=_programs(agency, "access-center")), trainer)
    access_request_grant(actor=provisioner, access_request_id=request.pk, hmis_username="first", hmis_role="CES_Standard")
    other = StaffFactory(groups=["CoC provisioning"])
    with pytest.raises(ValidationError, match="already granted"):
        access_request_grant(actor=other, access_request_id=request.pk, hmis_username="second", hmis_role="CES_Standard")
    assert HMISAccount.objects.get().hmis_username == "first"
    assert AuditEvent.objects.filter(verb="granted HMIS access").count() == 1


def test_a_username_of_another_person_is_refused(agency, trainer, provisioner):
    HMISAccountFactory(hmis_username="taken")
    request = finish_everything(identify(agency, programs=_programs(agency, "access-center")), trainer)
    with pytest.raises(ValidationError, match="belongs to another person"):
        access_request_grant(actor=provisioner, access_request_id=request.pk, hmis_username="TAKEN",
                             hmis_role="CES_Standard")
    request.refresh_from_db()
    assert request.status == "ready"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("policy_rows")
def test_two_staff_granting_at_once_grant_once(organization):
    import threading

    from django.db import connection

    from tests.training.factories import ensure_policy

    ensure_policy()
    participating(organization, "access-center")
    trainer = StaffFactory(groups=["CoC training"])
    request = finish_everything(identify(organization, programs=_programs(organization, "access-center")), trainer)
    staff = [StaffFactory(groups=["CoC provisioning"]) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def grant(actor, username):
        try:
            barrier.wait()
            access_request_grant(actor=actor, access_request_id=request.pk, hmis_username=username,
                                 hmis_role="CES_Standard")
            outcomes.append("granted")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=grant, args=(s, f"user{i}")) for i, s in enumerate(staff)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("granted") == 1
    assert any("already granted" in o for o in outcomes)
    assert HMISAccount.objects.count() == 1
    assert AuditEvent.objects.filter(verb="granted HMIS access").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("policy_rows")
def test_identifying_the_same_new_person_twice_at_once_identifies_them_once(organization):
    import threading

    from django.db import connection

    from tests.training.factories import ensure_policy

    ensure_policy()
    participating(organization, "access-center")
    programs = _programs(organization, "access-center")
    managers = [MembershipFactory(organization=organization, persona=persona).user
                for persona in ("program_manager", "agency_administrator")]
    barrier = threading.Barrier(2)
    outcomes = []

    def identify_once(actor):
        try:
            barrier.wait()
            access_request_create(actor=actor, organization=organization, full_name="Twice Person",
                                  email="twice@agency.example.org", new_hmis_user=True,
                                  roles=roles("housing-navigator"), programs=programs)
            outcomes.append("identified")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
            outcomes.append(f"error: {exc.__class__.__name__}")
        finally:
            connection.close()

    threads = [threading.Thread(target=identify_once, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("identified") == 1, outcomes
    assert any("already" in o for o in outcomes if o != "identified"), outcomes
    assert AccessRequest.objects.filter(user__email="twice@agency.example.org").count() == 1
    assert AuditEvent.objects.filter(verb="identified user").count() == 1
