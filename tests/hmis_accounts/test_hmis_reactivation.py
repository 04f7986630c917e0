"""Reactivation (seed 002): asked for in the portal, processed by
provisioning staff through the shared provisioning queue and deadline."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from hmis_accounts import services as activity
from hmis_access.models import HMISAccount
from hmis_accounts.models import ReactivationRequest
from hmis_access.provisioning import provisioning_queue
from hmis_access.services import provisioning_due
from hmis_portal.core.calendar import local_date
from hmis_portal.core.models import AuditEvent, Notification
from tests.hmis_access.hmis import account_last_login, agency_admin, local, sweep
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def provisioner():
    return StaffFactory(groups=["CoC provisioning"])


def _inactive(days_ago=40):
    today = local_date()
    account = account_last_login(local(today - dt.timedelta(days=days_ago), 10))
    sweep(local(today, 0, 5).isoformat())
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.INACTIVE
    return account


def test_the_agency_administrator_asks_and_it_joins_the_provisioning_queue_with_the_deadline(provisioner):
    account = _inactive()
    admin = agency_admin(account.organization)
    request = activity.reactivation_request_create(actor=admin, account=account)
    assert request.status == ReactivationRequest.Status.READY
    assert request.provisioning_due_at == provisioning_due(request.ready_at)
    entries = [e for e in provisioning_queue() if e.kind == "reactivation"]
    assert [e.item.pk for e in entries] == [request.pk]
    assert Notification.objects.filter(to_email=provisioner.email).exists()
    # A double submit, or the user asking too, finds the same request.
    assert activity.reactivation_request_create(actor=account.user, account=account).pk == request.pk
    assert ReactivationRequest.objects.count() == 1


def test_someone_else_at_the_agency_may_not_ask():
    account = _inactive()
    colleague = MembershipFactory(organization=account.organization, persona="program_manager").user
    with pytest.raises(PermissionDenied):
        activity.reactivation_request_create(actor=colleague, account=account)


def test_an_active_account_cannot_be_reactivated():
    account = account_last_login(local(local_date() - dt.timedelta(days=3), 10))
    with pytest.raises(ValidationError):
        activity.reactivation_request_create(actor=account.user, account=account)


def test_reactivation_under_90_days_tells_the_user_the_moment_to_log_in_by(provisioner):
    from hmis_access.models import AccessPolicy
    from hmis_portal.core.dates import moment_text

    account = _inactive(40)
    request = activity.reactivation_request_create(actor=account.user, account=account)
    at = local(local_date(), 9, 0)
    activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request, at=at)
    with pytest.raises(ValidationError, match="already reactivated"):  # a double submit changes nothing
        activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request, at=at)
    account.refresh_from_db()
    request.refresh_from_db()
    hours = AccessPolicy.current().reactivation_login_hours
    assert hours == 48
    assert account.status == HMISAccount.Status.ACTIVE
    assert account.must_log_in_before == at + dt.timedelta(hours=hours)
    assert request.status == ReactivationRequest.Status.REACTIVATED and request.provisioned_by == provisioner
    told = Notification.objects.get(to_email=account.user.email, subject__contains="Active again")
    assert moment_text(account.must_log_in_before) in told.body
    assert "midnight" not in told.body and "seed 00" not in told.body
    assert AuditEvent.objects.filter(verb="reactivated", object_id=str(account.pk),
                                     content_type__model="hmisaccount").count() == 1
    assert request not in [e.item for e in provisioning_queue()]


def test_reactivated_at_5_40_pm_is_still_active_at_midnight_and_inactive_after_the_window(provisioner):
    account = _inactive(40)
    request = activity.reactivation_request_create(actor=account.user, account=account)
    today = local_date()
    activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request, at=local(today, 17, 40))
    for days in (1, 2):  # the sweeps shortly after the next two midnights, inside the 48 hours
        sweep(local(today + dt.timedelta(days=days), 0, 5).isoformat())
        account.refresh_from_db()
        assert account.status == HMISAccount.Status.ACTIVE
    sweep(local(today + dt.timedelta(days=3), 0, 5).isoformat())
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.INACTIVE
    assert account.inactive_reason == HMISAccount.InactiveReason.NO_LOGIN_AFTER_REACTIVATION


def test_the_window_is_the_policy_s_hours(provisioner):
    from hmis_access.models import AccessPolicy

    AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(reactivation_login_hours=4)
    account = _inactive(40)
    request = activity.reactivation_request_create(actor=account.user, account=account)
    today = local_date()
    activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request, at=local(today, 9, 0))
    account.refresh_from_db()
    assert account.must_log_in_before == local(today, 13, 0)
    sweep(local(today, 23, 59).isoformat())
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE
    sweep(local(today + dt.timedelta(days=1), 0, 5).isoformat())
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.INACTIVE


def test_a_login_within_the_window_keeps_it_active(provisioner):
    from django.utils import timezone

    account = _inactive(40)
    request = activity.reactivation_request_create(actor=account.user, account=account)
    activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request)
    activity.record_hmis_logins(logins={account.hmis_username: timezone.now()})
    sweep(local(local_date() + dt.timedelta(days=3), 0, 5).isoformat())
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE


def test_over_90_days_the_request_waits_for_the_retraining_courses(provisioner):
    from training.models import Completion, Course
    from training.signals import training_record_changed

    def refresh_for_user(user):
        # What training sends when a completion is recorded (training.services).
        training_record_changed.send(sender=Completion, user=user, actor=None)

    today = local_date()
    account = account_last_login(local(today - dt.timedelta(days=95), 10))
    sweep(local(today, 0, 5).isoformat())
    account.refresh_from_db()
    assert account.retraining_required
    request = activity.reactivation_request_create(actor=account.user, account=account)
    assert request.status == ReactivationRequest.Status.WAITING_FOR_RETRAINING
    assert request.provisioning_due_at is None
    assert request not in [e.item for e in provisioning_queue()]
    with pytest.raises(ValidationError, match="only a request ready"):
        activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request)
    # Even a request forced to ready does not get past the retraining check.
    ReactivationRequest.objects.filter(pk=request.pk).update(status=ReactivationRequest.Status.READY)
    with pytest.raises(ValidationError, match="retake"):
        activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request)
    ReactivationRequest.objects.filter(pk=request.pk).update(status=ReactivationRequest.Status.WAITING_FOR_RETRAINING)

    # A completion from before the retraining became required does not count.
    course = Course.objects.get(code="hmis-basic-navigation")
    Completion.objects.create(user=account.user, course=course, completed_on=today - dt.timedelta(days=200),
                              source="attendance")
    refresh_for_user(account.user)
    request.refresh_from_db()
    assert request.status == ReactivationRequest.Status.WAITING_FOR_RETRAINING
    Completion.objects.create(user=account.user, course=course, completed_on=today, source="attendance")
    refresh_for_user(account.user)
    request.refresh_from_db()
    account.refresh_from_db()
    assert not account.retraining_required
    assert request.status == ReactivationRequest.Status.READY
    assert request.provisioning_due_at == provisioning_due(request.ready_at)
    activity.hmis_account_reactivate(actor=provisioner, reactivation_request=request)
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE
    # The retraining restarted the 90-day clock.
    assert account.retraining_counted_from == today


def test_declining_needs_a_reason(provisioner):
    account = _inactive()
    request = activity.reactivation_request_create(actor=account.user, account=account)
    with pytest.raises(ValidationError):
        activity.reactivation_request_decline(actor=provisioner, reactivation_request=request, reason=" ")
    activity.reactivation_request_decline(actor=provisioner, reactivation_request=request, reason="Left the agency")
    request.refresh_from_db()
    assert request.status == ReactivationRequest.Status.DECLINED
    assert request not in [e.item for e in provisioning_queue()]


# --- pages -----------------------------------------------------------------

def test_the_user_sees_status_and_days_since_last_login(client):
    account = account_last_login(local(local_date() - dt.timedelta(days=12), 10))
    client.force_login(account.user)
    page = client.get(reverse("hmis-account-status")).content.decode()
    assert 'data-testid="days-since-login">12<' in page
    assert "Active" in page
    client.post(reverse("hmis-account-reminders"), {"login_reminders": "on"})
    account.refresh_from_db()
    assert account.login_reminders


def test_the_calendar_feed_needs_only_its_token():
    from django.test import Client

    account = account_last_login(local(local_date() - dt.timedelta(days=12), 10))
    response = Client().get(reverse("hmis-account-calendar-feed", kwargs={"token": account.calendar_token}))
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/calendar")
    assert "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15" in body
    last_day = local_date() + dt.timedelta(days=17)
    assert f"DTSTART;VALUE=DATE:{last_day:%Y%m%d}" in body and "Last day to log in to HMIS" in body
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert Client().get(reverse("hmis-account-calendar-feed", kwargs={"token": "nope"})).status_code == 404


def test_the_agency_sees_users_at_risk_in_a_constant_number_of_queries(client, django_assert_max_num_queries):
    organization = HMISAccountFactory().organization
    admin = agency_admin(organization)
    today = local_date()
    for days in (3, 10, 24, 29, 35, 60):
        account_last_login(local(today - dt.timedelta(days=days), 10), organization=organization)
    sweep(local(today, 0, 5).isoformat())  # 35 and 60 days: Inactive
    client.force_login(admin)
    url = reverse("agency-hmis-accounts", kwargs={"slug": organization.slug})
    with django_assert_max_num_queries(12):
        page = client.get(url).content.decode()
    # 24 and 29 days are within 7 days of day 30.
    assert 'data-testid="at-risk-count">2<' in page
    for days in range(6):
        account_last_login(local(today - dt.timedelta(days=25), 10), organization=organization)
    with django_assert_max_num_queries(12):
        page = client.get(url).content.decode()
    assert 'data-testid="at-risk-count">8<' in page


def test_coc_staff_see_counts_and_what_to_act_on(client, provisioner, django_assert_max_num_queries):
    account = _inactive()
    activity.reactivation_request_create(actor=account.user, account=account)
    account_last_login(local(local_date() - dt.timedelta(days=2), 10))
    client.force_login(provisioner)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("hmis-accounts-dashboard")).content.decode()
    assert 'data-testid="count-active">1<' in page
    assert 'data-testid="count-inactive">1<' in page
    assert f'data-username="{account.hmis_username}"' in page
