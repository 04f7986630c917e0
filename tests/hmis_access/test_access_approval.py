"""Who may request HMIS access, and the CoC's approval step before training,
both from the access policy (seed 003: the Authorized Representative submits
the User Access Request; "After the UAR is approved, the new End User will
receive notification ... to submit the User Policy form, complete the
trainings")."""

import datetime as dt
import io
import json

import pytest
import time_machine
from accounts.models import Membership
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hmis_access.checklist import build_checklist
from hmis_access.models import AccessPolicy, AccessRequest
from hmis_access.provisioning import provisioning_due
from hmis_access.services import (access_request_approve, access_request_decline, access_request_withdraw,
                                  refresh_for_user)
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import complete, identify, participating, requester_of, roles

pytestmark = pytest.mark.django_db


def _policy(**fields):
    AccessPolicy.current()
    AccessPolicy.objects.filter(pk=1).update(**fields)


@pytest.fixture
def approval_on():
    _policy(access_requests_need_approval=True)


@pytest.fixture
def agency(organization):
    participating(organization, "access-center", "permanent-housing")
    return organization


@pytest.fixture
def provisioner():
    return StaffFactory(groups=["CoC provisioning"])


def _programs(org, *codes):
    return list(org.programs.filter(program_type__code__in=codes))


def _identify(agency, **kwargs):
    return identify(agency, programs=_programs(agency, "access-center"), **kwargs)


# --- who may request access ---------------------------------------------------------------------

def test_by_default_the_program_manager_and_agency_administrator_request_access(agency):
    policy = AccessPolicy.current()
    assert policy.requester_personas == ["program_manager", "agency_administrator"]
    assert not policy.access_requests_need_approval
    director = MembershipFactory(organization=agency, persona="executive_director").user
    with pytest.raises(PermissionDenied, match="Program Manager or Agency Administrator"):
        _identify(agency, actor=director)
    admin = MembershipFactory(organization=agency, persona="agency_administrator").user
    assert _identify(agency, actor=admin).status == AccessRequest.Status.OPEN


def test_where_the_authorized_representative_requests_only_they_may(agency, client):
    _policy(access_requesters="executive_director")
    director = MembershipFactory(organization=agency, persona="executive_director").user
    manager = MembershipFactory(organization=agency, persona="program_manager").user
    with pytest.raises(PermissionDenied, match="Executive Director / Authorized Representative"):
        _identify(agency, actor=manager)
    assert AccessRequest.objects.count() == 0
    # The page, its button on the agency's users page, and the form all follow the policy.
    client.force_login(manager)
    assert client.get(reverse("access-request-new", args=[agency.slug])).status_code == 403
    assert "Identify a user" not in client.get(reverse("agency-users", args=[agency.slug])).content.decode()
    client.force_login(director)
    assert "Identify a user" in client.get(reverse("agency-users", args=[agency.slug])).content.decode()
    response = client.post(reverse("access-request-new", args=[agency.slug]), {
        "full_name": "Pat Newhire", "email": "pat@example.org", "new_hmis_user": "new",
        "roles": [roles("housing-navigator")[0].pk], "programs": [p.pk for p in _programs(agency, "access-center")]})
    assert response.status_code == 302
    assert AccessRequest.objects.get(user__email="pat@example.org").requested_by == director


def test_the_agency_page_names_who_requests_access(agency, client):
    _policy(access_requesters="executive_director")
    director = MembershipFactory(organization=agency, persona="executive_director").user
    director.full_name = "Dana Director"
    director.save()
    client.force_login(director)
    page = client.get(reverse("onboarding:participation", args=[agency.slug])).content.decode()
    assert "Dana Director" in page.split('id="step-3"')[1].split("</li>")[0]


def test_the_home_page_tells_the_policys_requesters_about_their_users(agency, client):
    _policy(access_requesters="executive_director")
    director = requester_of(agency)
    _identify(agency)
    client.force_login(director)
    assert "working through the HMIS access checklist" in client.get(reverse("home")).content.decode()


def test_the_access_policy_admin_ticks_personas(client):
    admin_user = StaffFactory(groups=["CoC system admin"])
    client.force_login(admin_user)
    url = reverse("admin:hmis_access_accesspolicy_change", args=[AccessPolicy.current().pk])
    page = client.get(url).content.decode()
    assert 'value="program_manager"' in page and "checked" in page
    # An empty field (the deadline in hours, when it is in business days) posts as "".
    data = {f.name: "" if getattr(AccessPolicy.current(), f.name) is None else getattr(AccessPolicy.current(), f.name)
            for f in AccessPolicy._meta.concrete_fields
            if f.name not in ("id", "access_requesters", "access_requests_need_approval")}
    data.update(access_requesters=["executive_director", "agency_administrator"], access_requests_need_approval="on")
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = AccessPolicy.current()
    assert policy.requester_personas == ["executive_director", "agency_administrator"]
    assert policy.access_requests_need_approval


# --- the approval step ----------------------------------------------------------------------------

def test_with_approval_on_a_new_request_waits_and_offers_nothing_yet(agency, approval_on, client):
    request = _identify(agency)
    assert request.status == AccessRequest.Status.AWAITING_APPROVAL
    checklist = build_checklist(request)
    assert checklist.items[0].label == "CoC approval of the request" and not checklist.items[0].done
    assert not checklist.ready
    assert "CoC approval of the request" in checklist.blocker_text
    user = request.user
    user.set_password("test-password-1")
    user.save()
    client.force_login(user)
    page = client.get(reverse("my-access")).content.decode()
    assert "Awaiting CoC approval" in page and "Waiting for the CoC's approval" in page
    assert "Register for a session" not in page and "Upload" not in page
    # Nothing waits on the user yet.
    assert "Finish your HMIS access checklist" not in client.get(reverse("home")).content.decode()
    # CoC approvers are told.
    provisioner = StaffFactory(groups=["CoC provisioning"])
    second = _identify(agency, email="second@example.org")
    assert Notification.objects.filter(to_email=provisioner.email,
                                       subject=f"HMIS access request to approve: {second.user}").exists()


def test_without_the_switch_nothing_waits_for_approval(agency):
    request = _identify(agency)
    assert request.status == AccessRequest.Status.OPEN
    assert all(item.kind != "approval" for item in build_checklist(request).items)


def test_approving_starts_the_checklist_and_tells_the_user_what_comes_next(organization, provisioner):
    call_command("load_policy", "mo-bos", stdout=io.StringIO())
    participating(organization, "access-center")
    request = _identify(organization)
    requester = request.requested_by
    assert request.status == AccessRequest.Status.AWAITING_APPROVAL and requester.memberships.get(
        organization=organization).persona == "executive_director"
    approved = access_request_approve(actor=provisioner, access_request_id=request.pk)
    assert approved.status == AccessRequest.Status.OPEN and approved.decided_by == provisioner
    assert approved.ready_at is None and approved.provisioning_due_at is None
    event = events_for(request).get(verb="approved")
    assert (event.actor, event.from_state, event.to_state) == (provisioner, "awaiting_approval", "open")
    told = Notification.objects.get(to_email=request.user.email, subject="Your HMIS access request was approved")
    for title in ("User Policy and Responsibilities", "Security & Privacy Awareness", "Data Standards Training"):
        assert title in told.body
    assert "/accounts/reset/" in told.link  # no password yet: the link sets one
    assert Notification.objects.filter(to_email=requester.email,
                                       subject=f"HMIS access request approved: {request.user}").exists()
    checklist = build_checklist(approved)
    assert checklist.items[0].done and checklist.items[0].status.startswith("Approved")
    assert {item.obj.title for item in checklist.blockers if item.kind in ("course", "form")} == {
        "User Policy and Responsibilities", "Security & Privacy Awareness", "Data Standards Training"}


def _records_on_file(request, trainer):
    from training.models import Completion, FormSubmission, Review

    for item in build_checklist(request).items:
        if item.kind == "course" and not item.done:
            Completion.objects.create(user=request.user, course=item.obj, completed_on=dt.date(2026, 1, 5),
                                      source=Completion.Source.CERTIFICATE, recorded_by=trainer)
        elif item.kind == "form" and not item.done:
            FormSubmission.objects.create(user=request.user, form=item.obj, version=1, status=Review.VERIFIED)


def test_the_provisioning_deadline_starts_at_approval_not_before(agency, approval_on, provisioner):
    trainer = StaffFactory(groups=["CoC training"])
    with time_machine.travel(dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.timezone.utc)):  # a Monday
        request = _identify(agency, new_user=False)
        # An existing HMIS user whose trainings and forms are on record from
        # before (the person's own work waits for the approval).
        _records_on_file(request, trainer)
        refresh_for_user(user=request.user)
        request.refresh_from_db()
        assert request.status == AccessRequest.Status.AWAITING_APPROVAL and request.ready_at is None
    approved_at = dt.datetime(2026, 11, 5, 17, 0, tzinfo=dt.timezone.utc)  # the Thursday
    with time_machine.travel(approved_at):
        access_request_approve(actor=provisioner, access_request_id=request.pk)
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY
    assert request.ready_at == approved_at
    assert request.provisioning_due_at == provisioning_due(approved_at)
    told = Notification.objects.get(to_email=request.user.email, subject="Your HMIS access request was approved")
    assert "already done" in told.body


def test_declining_tells_the_requester_why_and_frees_the_person_for_a_new_request(agency, approval_on, provisioner):
    request = _identify(agency)
    with pytest.raises(ValidationError):
        access_request_decline(actor=provisioner, access_request_id=request.pk, reason="  ")
    with pytest.raises(ValidationError):
        access_request_decline(actor=provisioner, access_request_id=request.pk, reason="bad\x07reason")
    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequest.Status.AWAITING_APPROVAL
    declined = access_request_decline(actor=provisioner, access_request_id=request.pk,
                                      reason="This person is not on the agency's staff list.")
    assert declined.status == AccessRequest.Status.DECLINED
    event = events_for(request).get(verb="declined")
    assert event.reason == "This person is not on the agency's staff list."
    told = Notification.objects.get(to_email=request.requested_by.email,
                                    subject=f"HMIS access request declined: {request.user}")
    assert "not on the agency's staff list" in told.body
    assert "not on the agency" in build_checklist(declined).items[0].status
    again = _identify(agency, email=request.user.email)
    assert again.status == AccessRequest.Status.AWAITING_APPROVAL


def test_a_second_decision_changes_nothing_and_says_why(agency, approval_on, provisioner):
    request = _identify(agency)
    access_request_approve(actor=provisioner, access_request_id=request.pk)
    with pytest.raises(ValidationError, match="already approved by"):
        access_request_approve(actor=provisioner, access_request_id=request.pk)
    with pytest.raises(ValidationError, match="already approved by"):
        access_request_decline(actor=provisioner, access_request_id=request.pk, reason="Late")
    declined = _identify(agency, email="other@example.org")
    access_request_decline(actor=provisioner, access_request_id=declined.pk, reason="No")
    with pytest.raises(ValidationError, match="already declined by"):
        access_request_approve(actor=provisioner, access_request_id=declined.pk)
    withdrawn = _identify(agency, email="third@example.org")
    access_request_withdraw(actor=withdrawn.requested_by, access_request_id=withdrawn.pk)
    with pytest.raises(ValidationError, match="withdrawn"):
        access_request_approve(actor=provisioner, access_request_id=withdrawn.pk)
    _policy(access_requests_need_approval=False)
    plain = _identify(agency, email="fourth@example.org")
    with pytest.raises(ValidationError, match="does not wait"):
        access_request_approve(actor=provisioner, access_request_id=plain.pk)
    assert events_for(request).filter(verb="approved").count() == 1


def test_nobody_approves_their_own_request_their_own_agency_or_themselves(agency, approval_on, provisioner):
    request = _identify(agency)
    trainer = StaffFactory(groups=["CoC training"])
    with pytest.raises(PermissionDenied, match="provisioning staff"):
        access_request_approve(actor=trainer, access_request_id=request.pk)
    AccessRequest.objects.filter(pk=request.pk).update(requested_by=provisioner)
    with pytest.raises(PermissionDenied, match="You asked for this access"):
        access_request_approve(actor=provisioner, access_request_id=request.pk)
    AccessRequest.objects.filter(pk=request.pk).update(user=provisioner)
    with pytest.raises(PermissionDenied, match="their own access request"):
        access_request_decline(actor=provisioner, access_request_id=request.pk, reason="x")
    member = StaffFactory(groups=["CoC system admin"])
    # CoC staff hold no memberships through the services; made directly here.
    Membership.objects.create(user=member, organization=agency, persona="staff")
    other = _identify(agency, email="other@example.org")
    with pytest.raises(PermissionDenied, match="You belong to this agency"):
        access_request_approve(actor=member, access_request_id=other.pk)
    assert AccessRequest.objects.get(pk=other.pk).status == AccessRequest.Status.AWAITING_APPROVAL


# --- the portal queue, the admin, the home page ---------------------------------------------------

def test_the_queue_approves_and_declines_in_the_portal(agency, approval_on, provisioner, client):
    first = _identify(agency, email="first@example.org", name="Ari First")
    second = _identify(agency, email="second@example.org", name="Bo Second")
    client.force_login(provisioner)
    page = client.get(reverse("access-approvals")).content.decode()
    assert "Ari First" in page and "Bo Second" in page
    assert "Access requests to approve" in client.get(reverse("home")).content.decode()
    response = client.post(reverse("access-request-approve", args=[first.pk]), follow=True)
    assert "was approved" in response.content.decode()
    assert AccessRequest.objects.get(pk=first.pk).status == AccessRequest.Status.OPEN
    # A double click: a clear message, nothing changed.
    response = client.post(reverse("access-request-approve", args=[first.pk]), follow=True)
    assert "already approved by" in response.content.decode()
    response = client.post(reverse("access-request-decline", args=[second.pk]), {"reason": ""}, follow=True)
    assert "Say why" in response.content.decode()
    assert AccessRequest.objects.get(pk=second.pk).status == AccessRequest.Status.AWAITING_APPROVAL
    client.post(reverse("access-request-decline", args=[second.pk]), {"reason": "Duplicate of another request"})
    assert AccessRequest.objects.get(pk=second.pk).status == AccessRequest.Status.DECLINED
    assert "No access request waits for approval" in client.get(reverse("access-approvals")).content.decode()


def test_the_request_page_offers_the_decision_to_approvers_only(agency, approval_on, provisioner, client):
    request = _identify(agency)
    url = reverse("access-request-detail", args=[agency.slug, request.pk])
    client.force_login(provisioner)
    page = client.get(url).content.decode()
    assert reverse("access-request-approve", args=[request.pk]) in page
    client.force_login(StaffFactory(groups=["CoC training"]))
    assert reverse("access-request-approve", args=[request.pk]) not in client.get(url).content.decode()
    client.force_login(request.requested_by)
    assert reverse("access-request-approve", args=[request.pk]) not in client.get(url).content.decode()


def test_the_queue_shows_a_refusal_instead_of_buttons(agency, approval_on, provisioner, client):
    request = _identify(agency)
    AccessRequest.objects.filter(pk=request.pk).update(requested_by=provisioner)
    client.force_login(provisioner)
    page = client.get(reverse("access-approvals")).content.decode()
    assert "another CoC staff member must approve it" in page
    assert reverse("access-request-approve", args=[request.pk]) not in page
    response = client.post(reverse("access-request-approve", args=[request.pk]), follow=True)
    assert "another CoC staff member must approve it" in response.content.decode()
    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequest.Status.AWAITING_APPROVAL


def test_the_queue_pages_in_constant_queries(agency, approval_on, provisioner, client,
                                             django_assert_max_num_queries):
    for n in range(3):
        _identify(agency, email=f"p{n}@example.org")
    client.force_login(provisioner)
    client.get(reverse("access-approvals"))
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("access-approvals"))
    for n in range(3, 12):
        _identify(agency, email=f"p{n}@example.org")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("access-approvals")).content.decode().count("Reason to decline the request") == 12


def test_the_state_shows_on_the_agency_and_provisioning_pages(agency, approval_on, provisioner, client):
    request = _identify(agency, name="Cam Waiting")
    manager = request.requested_by
    client.force_login(manager)
    users = client.get(reverse("agency-users", args=[agency.slug])).content.decode()
    assert "Awaiting CoC approval" in users and "CoC approval of the request" in users
    participation = client.get(reverse("onboarding:participation", args=[agency.slug])).content.decode()
    assert "1 request awaiting the CoC&#x27;s approval" in participation
    client.force_login(provisioner)
    queue = client.get(reverse("provisioning-queue")).content.decode()
    assert "1 new access request awaits the CoC" in queue and reverse("access-approvals") in queue
    assert "Approve or decline HMIS access for Cam Waiting" in client.get(reverse("home")).content.decode()
    trainer = StaffFactory(groups=["CoC training"])
    client.force_login(trainer)
    assert "Approve or decline HMIS access" not in client.get(reverse("home")).content.decode()


def test_the_admin_approves_and_declines_through_the_service(agency, approval_on, provisioner, client):
    first = _identify(agency, email="first@example.org")
    second = _identify(agency, email="second@example.org")
    client.force_login(provisioner)
    change = client.get(reverse("admin:hmis_access_accessrequest_change", args=[first.pk])).content.decode()
    assert reverse("admin:hmis_access_accessrequest_approve", args=[first.pk]) in change
    client.post(reverse("admin:hmis_access_accessrequest_approve", args=[first.pk]))
    assert AccessRequest.objects.get(pk=first.pk).status == AccessRequest.Status.OPEN
    assert events_for(first).get(verb="approved").actor == provisioner
    url = reverse("admin:hmis_access_accessrequest_decline", args=[second.pk])
    assert client.post(url, {"reason": ""}).status_code == 200  # the form again, nothing changed
    assert AccessRequest.objects.get(pk=second.pk).status == AccessRequest.Status.AWAITING_APPROVAL
    client.post(url, {"reason": "Not employed here"})
    assert AccessRequest.objects.get(pk=second.pk).decline_reason == "Not employed here"
    # Training staff see the request but may not decide it.
    third = _identify(agency, email="third@example.org")
    client.force_login(StaffFactory(groups=["CoC training"]))
    assert client.post(reverse("admin:hmis_access_accessrequest_approve", args=[third.pk])).status_code == 403
    # Nor may someone of the agency's own.
    AccessRequest.objects.filter(pk=third.pk).update(requested_by=provisioner)
    client.force_login(provisioner)
    change = client.get(reverse("admin:hmis_access_accessrequest_change", args=[third.pk])).content.decode()
    assert "another CoC staff member must approve it" in change
    assert client.post(reverse("admin:hmis_access_accessrequest_approve", args=[third.pk])).status_code == 403
    assert AccessRequest.objects.get(pk=third.pk).status == AccessRequest.Status.AWAITING_APPROVAL


def test_the_admin_action_approves_each_and_reports_each_refusal(agency, approval_on, provisioner, client):
    waiting = _identify(agency, email="first@example.org")
    plain = _identify(agency, email="second@example.org")
    AccessRequest.objects.filter(pk=plain.pk).update(status=AccessRequest.Status.OPEN)
    client.force_login(provisioner)
    response = client.post(reverse("admin:hmis_access_accessrequest_changelist"),
                           {"action": "approve_selected", "_selected_action": [waiting.pk, plain.pk]}, follow=True)
    page = response.content.decode()
    assert "1 request approved" in page and "does not wait for the CoC" in page
    assert AccessRequest.objects.get(pk=waiting.pk).status == AccessRequest.Status.OPEN


# --- policy packs --------------------------------------------------------------------------------

def test_the_packs_set_who_requests_and_the_approval_step():
    call_command("load_policy", "mo-bos", stdout=io.StringIO())
    policy = AccessPolicy.current()
    assert policy.requester_personas == ["executive_director"] and policy.access_requests_need_approval
    call_command("load_policy", "agency-admin", stdout=io.StringIO())
    policy = AccessPolicy.current()
    assert policy.requester_personas == ["agency_administrator"] and not policy.access_requests_need_approval
    call_command("load_policy", "la", stdout=io.StringIO())
    policy = AccessPolicy.current()
    assert policy.requester_personas == ["program_manager", "agency_administrator"]
    assert not policy.access_requests_need_approval


@pytest.mark.parametrize("value, where, message", [
    (["program_manager", "chief_wizard"], "access_policy.access_requesters[1]", "unknown persona “chief_wizard”"),
    ([], "access_policy.access_requesters", "name at least one persona"),
    ("program_manager", "access_policy.access_requesters", "must be a list of personas"),
])
def test_an_unknown_persona_is_a_pack_error_with_file_and_line(tmp_path, value, where, message):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({"access_policy": {"provisioning_business_days": 3, "access_requesters": value,
                                                  "access_requests_need_approval": True}}, indent=2))
    marker = '"chief_wizard"' if "chief_wizard" in str(value) else '"access_requesters"'
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if marker in text)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:{line}: {where}: " in err.getvalue() and message in err.getvalue(), err.getvalue()
    assert not AccessPolicy.current().access_requests_need_approval


def test_seed_demo_under_mo_bos_leaves_one_request_awaiting_approval_and_is_idempotent():
    call_command("seed_demo", "--i-know-this-is-not-production", "--pack", "mo-bos", stdout=io.StringIO())
    waiting = AccessRequest.objects.get(user__email="awaiting.approval@northside.example.org")
    assert waiting.status == AccessRequest.Status.AWAITING_APPROVAL
    assert waiting.requested_by.memberships.filter(persona="executive_director").exists()
    before = dict(AccessRequest.objects.values_list("pk", "status"))
    assert AccessRequest.objects.filter(status=AccessRequest.Status.READY).exists()
    call_command("seed_demo", "--i-know-this-is-not-production", "--pack", "mo-bos", stdout=io.StringIO())
    assert dict(AccessRequest.objects.values_list("pk", "status")) == before


def test_completed_trainings_before_approval_do_not_make_a_request_ready(agency, approval_on):
    request = identify(agency, role_codes=("housing-provider",), new_user=False, email="hp@example.org",
                       programs=_programs(agency, "permanent-housing"))
    complete(request.user, "hmis-511")
    refresh_for_user(user=request.user)
    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequest.Status.AWAITING_APPROVAL
