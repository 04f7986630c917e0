"""A grant made in the browser while the HMIS is down stays visibly failed,
never shown as done; once the HMIS is back, provisioning staff press Retry
and the next delivery puts the user in the HMIS, and the pages say so.
Against a real scim2-server process, stopped and started again."""

import datetime as dt

import pytest
from django.utils import timezone

from hmis_access.models import HMISAccount
from hmis_portal.core import provisioning
from hmis_portal.core.models import AuditEvent, ProvisioningCommand
from tests.browser import sign_in
from tests.factories import StaffFactory
from tests.hmis_access.test_browser_access_journey import _submit
from tests.scim_server import ScimServer
from tests.training.factories import finish_everything, identify, participating

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _hmis_down_for_hours():
    """The delivery job's runs while the HMIS is down: each backs off, and
    after its attempts run out the command shows as failed."""
    start = timezone.now()
    for attempt in range(1, provisioning.MAX_ATTEMPTS + 1):
        result = provisioning.deliver_pending(now=start + attempt * 2 * provisioning.MAX_BACKOFF)
        assert result["sent"] == 0, result


def test_a_grant_the_hmis_never_got_shows_failed_and_retry_puts_it_there(browser_page, live_server, organization,
                                                                         scim_server, scim_settings):
    page = browser_page
    scim_settings(scim_server.url)
    provisioner = StaffFactory(groups=["CoC provisioning"])
    participating(organization, "access-center")
    request = finish_everything(identify(organization, programs=list(organization.programs.all()),
                                         name="Taylor Newhire"), StaffFactory(groups=["CoC training"]))
    scim_server.stop()

    # The grant, in the browser, as provisioning staff make it.
    sign_in(page, live_server, provisioner.email)
    page.goto(f"{live_server.url}/provisioning/")
    page.get_by_role("link", name="Taylor Newhire").click()
    page.get_by_role("link", name="Grant HMIS access").click()
    page.get_by_label("HMIS username").fill("tnewhire")
    _submit(page, page.get_by_role("button", name="Grant access"))
    assert page.get_by_text("HMIS access granted to Taylor Newhire").is_visible()
    account = HMISAccount.objects.get(user=request.user)

    _hmis_down_for_hours()
    assert set(ProvisioningCommand.objects.filter(subject=str(account.pk)).values_list("status", flat=True)) == {
        "failed", "pending"}  # the create failed; the role's group waits behind it

    # The queue says the grant is not in the HMIS, with the reason.
    page.goto(f"{live_server.url}/provisioning/")
    row = page.locator('tr[data-username="tnewhire"]')
    assert "In the HMIS: Failed: the HMIS cannot be reached" in row.inner_text()

    # The provisioning staff's page, from the menu.
    page.get_by_role("button", name="CoC work").click()
    page.get_by_role("link", name="HMIS provisioning").click()
    page.wait_for_load_state()
    row = page.locator('tr[data-username="tnewhire"]')
    assert "Failed: the HMIS cannot be reached" in row.inner_text()
    retry = row.get_by_role("button", name="Retry sending tnewhire to the HMIS")
    assert retry.is_visible()

    # The HMIS is back (empty, as a restarted in-memory server is).
    server = ScimServer()
    server.port = scim_server.port
    server.start()
    try:
        server.create_group("CES_Standard")
        _submit(page, retry)
        assert page.get_by_text("tnewhire will be sent to the HMIS again now.").is_visible()
        assert "In the HMIS: Pending" in page.locator('tr[data-username="tnewhire"]').inner_text()
        assert AuditEvent.objects.filter(actor=provisioner, verb="HMIS provisioning retried",
                                         object_id=str(account.pk)).count() == 1

        # The delivery job's next run.
        assert provisioning.deliver_pending()["sent"] == 2
        user = server.user("tnewhire")
        assert user["externalId"] == str(account.pk) and user["active"] is True
        assert server.groups()["CES_Standard"] == {user["id"]}
    finally:
        server.stop()

    page.reload()
    assert page.locator('tr[data-username="tnewhire"]').count() == 0
    assert page.get_by_text("Every account is as the portal decided in the HMIS.").is_visible()
    page.goto(f"{live_server.url}/agencies/{organization.slug}/hmis-accounts/")
    assert "In the HMIS: synced just now" in page.locator('tr[data-username="tnewhire"]').inner_text()
    assert timezone.now() - dt.timedelta(minutes=5) < account.provisioned_at
