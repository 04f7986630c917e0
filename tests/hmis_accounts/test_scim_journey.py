"""Decisions reach the HMIS: a grant, the inactivity sweep and a reactivation,
made through the portal's own services, arrive at a real SCIM 2.0 server
(scim2-server, a separate process); the reconciliation finds a user someone
activated by hand there."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from hmis_access.models import HMISAccount
from hmis_access.services import access_request_grant
from hmis_accounts import services as activity
from hmis_portal.core import provisioning
from hmis_portal.core.calendar import local_date
from hmis_portal.core.models import ProvisioningCommand
from tests.factories import StaffFactory
from tests.hmis_access.hmis import agency_admin, local, sweep
from tests.training.factories import finish_everything, identify, participating

# The servers are kept for the tests of one process (tests/hmis_accounts/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scim")]


@pytest.fixture
def target(scim_server, scim_settings):
    scim_settings(scim_server.url)
    for role in ("CES_Standard", "CES_Housing_Provider", "CES_Matcher"):
        scim_server.create_group(role)
    return scim_server


def _granted(organization, username="dreyes", role="CES_Standard"):
    participating(organization, "access-center")
    trainer = StaffFactory(groups=["CoC training"])
    request = finish_everything(identify(organization, programs=list(organization.programs.all())), trainer)
    access_request_grant(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk,
                         hmis_username=username, hmis_role=role)
    return HMISAccount.objects.get(user=request.user)


def test_without_a_target_a_grant_queues_nothing(organization, settings):
    settings.HMIS_SCIM_URL = ""
    _granted(organization)
    assert not ProvisioningCommand.objects.exists()


def test_grant_inactive_and_reactivation_reach_the_hmis(organization, target):
    account = _granted(organization)
    assert provisioning.subject_states([account.pk])[str(account.pk)].status == "pending"

    provisioning.deliver_pending()
    user = target.user("dreyes")
    assert user["externalId"] == str(account.pk) and user["active"] is True
    assert user["emails"][0]["value"] == account.user.email
    assert target.groups()["CES_Standard"] == {user["id"]}
    assert provisioning.subject_states([account.pk])[str(account.pk)].status == "synced"

    # 31 days without a login: the sweep makes it Inactive, and the HMIS follows.
    today = local_date()
    HMISAccount.objects.filter(pk=account.pk).update(
        last_hmis_login_at=local(today - dt.timedelta(days=31), 10),
        inactivity_counted_from=today - dt.timedelta(days=31),
        retraining_counted_from=today - dt.timedelta(days=31))
    sweep(local(today, 0, 5).isoformat())
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.INACTIVE
    # The sweep wrote the command and called nobody: the server still has it active.
    assert target.user("dreyes")["active"] is True
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is False
    # The sweep run again the same day queues nothing more.
    before = ProvisioningCommand.objects.count()
    sweep(local(today, 0, 30).isoformat())
    assert ProvisioningCommand.objects.count() == before

    request = activity.reactivation_request_create(actor=agency_admin(account.organization), account=account)
    activity.hmis_account_reactivate(actor=StaffFactory(groups=["CoC provisioning"]), reactivation_request=request)
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is True
    assert len(target.users()) == 1


def test_the_drift_report_finds_a_user_activated_by_hand(organization, target):
    account = _granted(organization)
    provisioning.deliver_pending()
    HMISAccount.objects.filter(pk=account.pk).update(status=HMISAccount.Status.INACTIVE)
    provisioning.provision_active(account_id=account.pk, active=False)
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is False
    # Someone turns the user back on in the HMIS itself.
    target.set_active(target.user("dreyes")["id"], True)

    out = io.StringIO()
    call_command("hmis_sync", "--dry-run", stdout=out)
    assert "DRIFT dreyes active-in-hmis-inactive-in-portal" in out.getvalue()
    assert target.user("dreyes")["active"] is True  # a dry run changes nothing

    call_command("hmis_sync", stdout=io.StringIO())
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is False
    again = io.StringIO()
    call_command("hmis_sync", stdout=again)
    assert "DRIFT" not in again.getvalue()


def test_the_nightly_check_tells_provisioning_staff_once_and_corrects_the_hmis(organization, target):
    from hmis_accounts.tasks import hmis_reconciliation
    from hmis_portal.core.models import Notification

    staff = StaffFactory(groups=["CoC provisioning"])
    account = _granted(organization)
    provisioning.deliver_pending()
    HMISAccount.objects.filter(pk=account.pk).update(status=HMISAccount.Status.INACTIVE)
    target.create_user("stranger", active=True)

    summary = hmis_reconciliation()
    assert "2 active without portal access" in summary, summary
    told = Notification.objects.filter(to_email=staff.email, subject__contains="active without portal access")
    assert told.count() == 1 and "dreyes" in told.get().body and "stranger" in told.get().body
    assert target.user("dreyes")["active"] is False  # the portal's decision, put back
    assert target.user("stranger")["active"] is True  # unknown to the portal: reported, never touched
    hmis_reconciliation()
    assert told.count() == 1
