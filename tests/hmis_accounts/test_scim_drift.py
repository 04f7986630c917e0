"""The last reconciliation's findings are kept, replaced as a set by each run
that is not a dry run (`hmis_sync` and the nightly job), so provisioning
staff can read them on their page. Against a real scim2-server process."""

import io

import pytest
from django.core.management import call_command

from hmis_access.models import HMISAccount
from hmis_portal.core.models import ProvisioningDrift
from tests.factories import HMISAccountFactory

# The servers are kept for the tests of one process (tests/hmis_accounts/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scim")]


@pytest.fixture
def target(scim_server, scim_settings):
    scim_settings(scim_server.url)
    scim_server.create_group("CES_Standard")
    return scim_server


def _found():
    return sorted((d.user_name, d.kind) for d in ProvisioningDrift.objects.all())


def test_hmis_sync_stores_the_findings_and_a_dry_run_does_not(target):
    account = HMISAccountFactory(hmis_username="dreyes", status=HMISAccount.Status.INACTIVE)
    target.create_user("dreyes", active=True, external_id=str(account.pk))
    target.create_user("stranger", active=True)
    ProvisioningDrift.objects.create(user_name="from-an-earlier-run", kind=ProvisioningDrift.Kind.MISSING_IN_HMIS)

    call_command("hmis_sync", "--dry-run", stdout=io.StringIO())
    assert _found() == [("from-an-earlier-run", "missing-in-hmis")]

    call_command("hmis_sync", stdout=io.StringIO())
    assert _found() == [("dreyes", "active-in-hmis-inactive-in-portal"),
                        ("stranger", "active-in-hmis-unknown-in-portal")]
    drift = ProvisioningDrift.objects.get(user_name="dreyes")
    assert drift.subject == str(account.pk) and drift.get_kind_display() == "Active in the HMIS but Inactive in the portal"

    # Corrected by that run's delivery: the next run finds only the stranger.
    call_command("hmis_sync", stdout=io.StringIO())
    assert _found() == [("stranger", "active-in-hmis-unknown-in-portal")]


def test_the_nightly_job_stores_the_findings(target):
    from hmis_accounts.tasks import hmis_reconciliation

    from django.urls import reverse

    from hmis_portal.core.models import Notification
    from tests.factories import StaffFactory

    StaffFactory(groups=["CoC provisioning"])
    target.create_user("stranger", active=True)
    hmis_reconciliation()
    assert _found() == [("stranger", "active-in-hmis-unknown-in-portal")]
    # The message leads to the page that lists what was found.
    assert Notification.objects.get(subject__contains="active without portal access").link.endswith(
        reverse("hmis-provisioning"))
    target.set_active(target.user("stranger")["id"], False)
    hmis_reconciliation()
    assert _found() == []


def test_a_run_that_cannot_read_the_hmis_keeps_the_last_findings(scim_settings):
    from hmis_accounts.tasks import hmis_reconciliation
    from tests.faults import spare_port

    scim_settings(f"http://127.0.0.1:{spare_port()}/v2")
    ProvisioningDrift.objects.create(user_name="stranger", kind=ProvisioningDrift.Kind.ACTIVE_NOT_IN_PORTAL)
    assert hmis_reconciliation().startswith("cannot read the HMIS")
    assert _found() == [("stranger", "active-in-hmis-unknown-in-portal")]


def test_drift_kinds_are_the_reconciliations():
    from hmis_portal.core import scim

    assert {scim.ACTIVE_NOT_IN_PORTAL, scim.ACTIVE_INACTIVE_IN_PORTAL, scim.MISSING_IN_HMIS, scim.INACTIVE_IN_HMIS,
            scim.GROUP_DIFFERS} == set(ProvisioningDrift.Kind.values)
