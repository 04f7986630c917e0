import datetime as dt

import pytest
import time_machine
from django.core.management import call_command

from hmis_portal.core.models import AuditEvent, Notification
from onboarding import selectors, services
from onboarding.models import OnboardingPolicy, OrganizationAgreement, add_months
from onboarding.signals import participation_changed
from tests.factories import StaffFactory
from tests.onboarding.factories import AgreementFactory

pytestmark = pytest.mark.django_db
JOB = "agreement-expiry-and-renewal"


def run(at):
    call_command("run_sweeps", "--at", at, "--only", JOB)


def test_add_months_clamps_to_the_end_of_the_month():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 8, 15), 12) == dt.date(2027, 8, 15)


def test_with_no_term_agreements_never_expire(organization, owner):
    with time_machine.travel(dt.datetime(2026, 8, 3, 10, tzinfo=dt.UTC)):
        agreement = AgreementFactory(organization=organization)
        services.agreement_countersign(actor=StaffFactory(groups=["CoC implementation"]), agreement=agreement)
    run("2036-01-01T06:15")
    agreement.refresh_from_db()
    assert agreement.expires_on is None and agreement.status == OrganizationAgreement.Status.EXECUTED
    assert not Notification.objects.filter(subject__contains="Renew").exists()


def test_a_term_sets_expiry_reminds_once_per_tier_and_expires_after_the_last_day(organization, owner):
    policy = OnboardingPolicy.current()
    policy.agreement_term_months, policy.renewal_reminder_days = 12, "30,7"
    policy.save()
    with time_machine.travel(dt.datetime(2026, 8, 3, 17, tzinfo=dt.UTC)):  # Aug 3 in Los Angeles
        agreement = AgreementFactory(organization=organization)
        services.agreement_countersign(actor=StaffFactory(groups=["CoC implementation"]), agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.expires_on == dt.date(2027, 8, 2)

    def reminders():
        return Notification.objects.filter(recipient=owner, subject__startswith="Renew").count()

    run("2027-06-01T06:15")  # 62 days before: nothing yet
    assert reminders() == 0
    run("2027-07-04T06:15")  # 29 days before: the 30-day reminder (caught up though the job skipped day 30)
    run("2027-07-04T06:15")  # a re-run sends nothing twice
    run("2027-07-05T06:15")
    assert reminders() == 1
    run("2027-07-27T06:15")  # 6 days before: the 7-day reminder
    assert reminders() == 2
    with time_machine.travel(dt.datetime(2027, 8, 2, 20, tzinfo=dt.UTC)):
        assert selectors.agreement_executed(organization)  # the last day is still in force

    received = []
    participation_changed.connect(lambda sender, organization, **kw: received.append(organization), weak=False,
                                  dispatch_uid="test-expiry")
    try:
        run("2027-08-03T06:15")
        run("2027-08-03T07:15")
    finally:
        participation_changed.disconnect(dispatch_uid="test-expiry")
    agreement.refresh_from_db()
    assert agreement.status == OrganizationAgreement.Status.EXPIRED
    assert received == [organization]
    assert AuditEvent.objects.filter(verb="agreement expired", object_id=str(agreement.pk)).count() == 1
    assert Notification.objects.filter(recipient=owner, subject__contains="has expired").count() == 1
    with time_machine.travel(dt.datetime(2027, 8, 3, 20, tzinfo=dt.UTC)):
        assert not selectors.agreement_executed(organization)
        assert selectors.participation_stage(organization) == "agreement_expired"


def test_an_agency_that_sent_its_renewal_is_not_reminded(organization, owner):
    policy = OnboardingPolicy.current()
    policy.agreement_term_months = 12
    policy.save()
    staff = StaffFactory(groups=["CoC implementation"])
    with time_machine.travel(dt.datetime(2026, 8, 3, 17, tzinfo=dt.UTC)):
        agreement = AgreementFactory(organization=organization)
        services.agreement_countersign(actor=staff, agreement=agreement)
    AgreementFactory(organization=organization, renewal_of=agreement)
    run("2027-07-30T06:15")
    assert not Notification.objects.filter(subject__startswith="Renew").exists()
