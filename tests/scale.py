"""Rows of every kind, straight into the tables, for tests that compare a
page at 10 rows with the same page at 1,000 (home pages, lists, the admin)."""

import datetime as dt

import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.apikeys.models import ApiKey
from accounts.models import Invitation, Membership, Organization, User
from hmis_access.models import AccessRequest, HMISAccount
from hmis_accounts.models import ReactivationRequest
from hmis_portal.core.models import AuditEvent, Holiday, Notification
from onboarding.models import JoinRequest, OrganizationAgreement, Program, ProgramType
from partnerships.models import DataPartnership, IntakeBatch
from referrals.models import NeedStatus, Referral


def measured_block():
    """A block that ends as a test's own does (pytest-django's, Django's
    TestCase): what a request keeps (core.cached) is read through the cache
    as in any test, and named signals sent in it are delivered at its end
    (tests/conftest.py, `_named_signals_on_commit`). Rows grown once for many
    measures are grown in one, rolled back after them."""
    block = transaction.atomic()
    block._from_testcase = True
    return block


def warm_then_measured(client, url):
    """The response to `url` asked twice, and the queries of the second: the
    first request after a change reads it again, once; the measure is the
    next. The clock stands still for the pair: a session records its activity
    (a policy read and a session write) once a minute, on whichever request
    crosses the minute, and the measure is the page's own cost. A streamed
    body (the CSV downloads) is written after the view has returned, as it is
    sent: its queries are the page's too."""
    with time_machine.travel(timezone.now(), tick=False):
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
    return response, captured


def rolled_back(measure):
    """`measure()`'s result, in a test's transaction rolled back after it
    (`measured_block`): the rows it makes are seen by nobody else. Growing
    1,000 rows of every kind is most of what a measure costs, so a module
    grows them once for all its pages, before its tests, which read the
    figures."""
    with measured_block():
        found = measure()
        transaction.set_rollback(True)
    return found


def at_10_and_1000(organization, measure) -> dict:
    """{key: [at 10 rows, at 1,000]} of `measure()` ({key: figure}): measured
    with 10 rows of every kind (`grow`), then again with 1,000."""
    grow(organization, 0, 10)
    small = measure()
    grow(organization, 10, 1000)
    large = measure()
    return {key: [small[key], large[key]] for key in small}


def grow(organization, start, stop):
    """Rows straight into the tables, of every kind a home page counts."""
    from training.models import Certificate, Completion, Course, FormSubmission, Registration, RequiredForm, \
        TrainingSession

    now, today = timezone.now(), timezone.localdate()
    kinds = [Program.SetupStatus.CONFIRMED, Program.SetupStatus.SETUP_COMPLETE,
             Program.SetupStatus.NEEDS_INFORMATION, Program.SetupStatus.REQUESTED]
    housing = ProgramType.objects.get(code="permanent-housing")
    programs = Program.objects.bulk_create([
        Program(organization=organization, name=f"Grown program {n}", program_type=housing,
                setup_status=kinds[n % 4], question="Which site?") for n in range(start, stop)])
    confirmed = [p for p in programs if p.setup_status == Program.SetupStatus.CONFIRMED] or list(
        organization.programs.filter(setup_status=Program.SetupStatus.CONFIRMED))
    initial = NeedStatus.objects.get(is_initial=True)
    Referral.objects.bulk_create([
        Referral(program=confirmed[n % len(confirmed)], hmis_client_id=f"G{n}", contact_name="C", status=initial,
                 due_at=now - dt.timedelta(days=1) if n % 2 else now + dt.timedelta(days=1))
        for n in range(start, stop)])
    users = User.objects.bulk_create([User(email=f"grown{n}@example.org", full_name=f"Grown Person {n}")
                                      for n in range(start, stop)])
    Membership.objects.bulk_create([Membership(user=u, organization=organization, persona="staff") for u in users])
    ApiKey.objects.bulk_create([ApiKey(owner=u, name=f"Grown key {n}", scopes="read", prefix=f"{n:08x}",
                                       key_hash=f"{n:064x}") for n, u in zip(range(start, stop), users)])
    HMISAccount.objects.bulk_create([
        HMISAccount(user=u, organization=organization, hmis_username=f"grown{n}", hmis_role="CES_Standard",
                    status=HMISAccount.Status.INACTIVE if n % 3 == 0 else HMISAccount.Status.ACTIVE,
                    provisioned_at=now - dt.timedelta(days=400), last_hmis_login_at=now - dt.timedelta(days=n % 40),
                    inactivity_counted_from=today - dt.timedelta(days=n % 40),
                    retraining_counted_from=today - dt.timedelta(days=n % 40), calendar_token=f"grown{n}")
        for n, u in zip(range(start, stop), users)])
    AccessRequest.objects.bulk_create([
        AccessRequest(organization=organization, user=u,
                      status=AccessRequest.Status.READY if n % 2 else AccessRequest.Status.OPEN,
                      ready_at=now - dt.timedelta(days=n % 5) if n % 2 else None,
                      provisioning_due_at=now + dt.timedelta(days=n % 5 - 2) if n % 2 else None)
        for n, u in zip(range(start, stop), users)])
    agencies = Organization.objects.bulk_create([Organization(name=f"Grown Agency {n}", slug=f"grown-agency-{n}")
                                                 for n in range(start, stop)])
    OrganizationAgreement.objects.bulk_create([
        OrganizationAgreement(organization=a, status=OrganizationAgreement.Status.SUBMITTED, submitted_at=now)
        for a in agencies])
    # Each grown agency sends its intakes to this one, half of them overdue.
    partnerships = DataPartnership.objects.bulk_create([
        DataPartnership(agency=a, partner=organization, status=DataPartnership.Status.ACTIVE,
                        moa="partnership-moas/grown.pdf", moa_signed_on=today, proposed_at=now, decided_at=now)
        for a in agencies])
    IntakeBatch.objects.bulk_create([
        IntakeBatch(partnership=p, received_at=now - dt.timedelta(days=5), intake_count=1 + n % 7, recorded_at=now,
                    due_at=now - dt.timedelta(days=1) if n % 2 else now + dt.timedelta(days=1),
                    escalate_at=now + dt.timedelta(days=2))
        for n, p in zip(range(start, stop), partnerships)])
    JoinRequest.objects.bulk_create([JoinRequest(organization_name=f"Joining {n}", contact_name="Pat",
                                                 contact_email=f"join{n}@example.org") for n in range(start, stop)])
    course = Course.objects.order_by("pk").first()
    Certificate.objects.bulk_create([Certificate(user=u, course=course, completed_on=today,
                                                 document="certificates/grown.pdf") for u in users])
    form = RequiredForm.objects.order_by("pk").first()
    FormSubmission.objects.bulk_create([FormSubmission(user=u, form=form, version=1, document="user-forms/grown.pdf")
                                        for u in users])
    Completion.objects.bulk_create([Completion(user=u, course=course, completed_on=today,
                                               source=Completion.Source.ATTENDANCE) for u in users])
    sessions = TrainingSession.objects.bulk_create([
        TrainingSession(course=course, starts_at=now + dt.timedelta(days=n % 30 - 10),
                        ends_at=now + dt.timedelta(days=n % 30 - 10, hours=3), capacity=20)
        for n in range(start, stop)])
    Registration.objects.bulk_create([Registration(session=s, user=u) for s, u in zip(sessions, users)])
    inactive = HMISAccount.objects.filter(hmis_username__in=[f"grown{n}" for n in range(start, stop) if n % 6 == 0])
    ReactivationRequest.objects.bulk_create([
        ReactivationRequest(account=a, user_id=a.user_id, organization=organization, requested_by_id=a.user_id,
                            status=ReactivationRequest.Status.READY, ready_at=now,
                            provisioning_due_at=now + dt.timedelta(days=2)) for a in inactive])
    Invitation.objects.bulk_create([
        Invitation(email=f"invited{n}@example.org", organization=organization, persona="staff",
                   token_hash=f"{n:064d}", expires_at=now + dt.timedelta(days=7)) for n in range(start, stop)])
    Holiday.objects.bulk_create([Holiday(date=dt.date(2031, 1, 1) + dt.timedelta(days=n), name=f"Grown day {n}")
                                 for n in range(start, stop)])
    kind = ContentType.objects.get_for_model(HMISAccount)
    AuditEvent.objects.bulk_create([AuditEvent(verb="grown", content_type=kind, object_id=str(n),
                                               object_repr=f"grown{n}") for n in range(start, stop)])
    Notification.objects.bulk_create([Notification(to_email=f"grown{n}@example.org", subject="Grown", body="b",
                                                   status=Notification.Status.SENT) for n in range(start, stop)])
