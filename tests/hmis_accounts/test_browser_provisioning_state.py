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


def test_the_hmis_state_pages_are_accessible_and_fit_a_phone(_chromium, live_server, policy_rows, settings):
    """The accessibility crawl sees no HMIS state (its demo has no target):
    these pages, with every state and a drift, get the same axe check."""
    from django.conf import settings as django_settings

    from hmis_portal.core.models import ProvisioningDrift
    from tests.core.test_browser_accessibility import AXE, AXE_RUN, DESKTOP, PHONE
    from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory
    from tests.faults import spare_port
    from tests.two_factor import PortalClient

    settings.HMIS_SCIM_URL = f"http://127.0.0.1:{spare_port()}/v2"
    organization = OrganizationFactory()
    accounts = [HMISAccountFactory(organization=organization) for _ in range(3)]
    now = timezone.now()
    for account, status in zip(accounts, ["done", "pending", "failed"], strict=True):
        ProvisioningCommand.objects.create(subject=str(account.pk), kind="create", status=status,
                                           last_error="the HMIS answered 400: a long reason " * 5 if status != "done" else "",
                                           done_at=now if status == "done" else None)
    ProvisioningDrift.objects.create(user_name="stranger-with-a-long-name", kind="active-in-hmis-unknown-in-portal")
    ProvisioningDrift.objects.create(user_name=accounts[0].hmis_username, subject=str(accounts[0].pk),
                                     kind="role-group-differs", detail="in CES_Matcher, role wants CES_Standard")
    MembershipFactory(user=accounts[2].user, organization=organization, persona="staff")
    people = [(StaffFactory(groups=["CoC system admin"]), ["/hmis-accounts/provisioning/", "/provisioning/",
                                                          f"/agencies/{organization.slug}/hmis-accounts/"]),
              (accounts[2].user, ["/hmis-account/", "/my-access/"]),
              (accounts[0].user, ["/hmis-account/", "/my-access/"])]
    context = _chromium.new_context(base_url=live_server.url, viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    found, wide = [], []
    try:
        for person, urls in people:
            client = PortalClient()
            client.force_login(person)
            context.clear_cookies()
            context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "url": live_server.url,
                                  "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value}])
            for url in urls:
                page.set_viewport_size(DESKTOP)
                page.goto(url)
                assert "In the HMIS" in page.content(), url
                page.add_script_tag(path=str(AXE))
                found += [(url, v["id"], v["targets"][:3]) for v in page.evaluate(AXE_RUN)]
                page.set_viewport_size(PHONE)
                if page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
                    wide.append(url)
    finally:
        context.close()
    assert found == [] and wide == [], (found, wide)
