"""Where each HMIS account stands in the HMIS, on the pages people use: the
user's own account, the agency's accounts, the provisioning queue and the
provisioning staff's page of pending, failed and drifted accounts; Retry for
those who may provision; nothing of it without a provisioning target."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core.models import AuditEvent, ProvisioningCommand, ProvisioningDrift
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory
from tests.faults import spare_port

pytestmark = pytest.mark.django_db
Status = ProvisioningCommand.Status


@pytest.fixture
def target(settings):
    """A configured target nobody answers at: these tests read and write the
    portal's side only (the real server is in test_scim_* and the browser test)."""
    settings.HMIS_SCIM_URL = f"http://127.0.0.1:{spare_port()}/v2"
    settings.HMIS_SCIM_TOKEN = "secret-bearer-token"
    return settings


def _account(organization=None, **fields):
    account = HMISAccountFactory(organization=organization or OrganizationFactory(), **fields)
    MembershipFactory(user=account.user, organization=account.organization, persona="staff")
    return account


def _command(account, status, *, error="", done_ago=dt.timedelta(minutes=2), kind="create"):
    now = timezone.now()
    return ProvisioningCommand.objects.create(
        subject=str(account.pk), kind=kind, payload={"user_name": account.hmis_username}, status=status,
        last_error=error, created_at=now - done_ago, done_at=now - done_ago if status == Status.DONE else None,
        next_attempt_at=None if status == Status.FAILED else now)


def _provisioner():
    return StaffFactory(groups=["CoC provisioning"])


# ---------------------------------------------------------------- the user's own account page


def test_own_account_shows_synced_pending_or_failed(client, target):
    account = _account()
    client.force_login(account.user)
    url = reverse("hmis-account-status")

    _command(account, Status.DONE)
    page = client.get(url).content.decode()
    assert "In the HMIS: synced 2\xa0minutes ago" in page

    _command(account, Status.PENDING)
    assert "In the HMIS: Pending" in client.get(url).content.decode()

    _command(account, Status.FAILED, error="the HMIS answered 400: bad userName")
    page = client.get(url).content.decode()
    assert "Failed: the HMIS answered 400: bad userName" in page
    # The user may not provision: no Retry for them.
    assert reverse("hmis-provisioning-retry", kwargs={"pk": account.pk}) not in page


def test_nothing_of_the_hmis_shows_without_a_target(client, settings):
    settings.HMIS_SCIM_URL = ""
    account = _account()
    _command(account, Status.FAILED, error="refused")
    client.force_login(account.user)
    assert "In the HMIS" not in client.get(reverse("hmis-account-status")).content.decode()
    lead = MembershipFactory(organization=account.organization, persona="agency_administrator").user
    client.force_login(lead)
    page = client.get(reverse("agency-hmis-accounts", kwargs={"slug": account.organization.slug})).content.decode()
    assert "In the HMIS" not in page and "Failed" not in page
    client.force_login(_provisioner())
    assert "In the HMIS" not in client.get(reverse("provisioning-queue")).content.decode()
    home = client.get(reverse("home")).content.decode()
    assert reverse("hmis-provisioning") not in home


# ---------------------------------------------------------------- the agency's accounts


def test_agency_list_shows_each_state_in_one_query(client, target, django_assert_max_num_queries):
    organization = OrganizationFactory()
    lead = MembershipFactory(organization=organization, persona="agency_administrator").user
    synced, waiting, failed = (_account(organization) for _ in range(3))
    _command(synced, Status.DONE)
    _command(waiting, Status.PENDING)
    _command(failed, Status.FAILED, error="the HMIS answered 409")
    client.force_login(lead)
    url = reverse("agency-hmis-accounts", kwargs={"slug": organization.slug})
    page = client.get(url).content.decode()
    assert page.count("In the HMIS: synced") == 1 and "Pending" in page and "the HMIS answered 409" in page
    assert "hmis-provisioning-retry" not in page and "Retry" not in page  # the agency does not provision

    client.get(url)
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    for _ in range(20):
        _command(_account(organization), Status.FAILED, error="refused")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)

    client.force_login(_provisioner())
    page = client.get(url).content.decode()
    assert reverse("hmis-provisioning-retry", kwargs={"pk": failed.pk}) in page


# ---------------------------------------------------------------- Retry


def test_retry_is_audited_and_a_double_submit_changes_nothing(client, target):
    account = _account()
    command = _command(account, Status.FAILED, error="the HMIS answered 400")
    staff = _provisioner()
    client.force_login(staff)
    url = reverse("hmis-provisioning-retry", kwargs={"pk": account.pk})

    response = client.post(url, follow=True)
    assert response.status_code == 200
    command.refresh_from_db()
    assert command.status == Status.PENDING and command.next_attempt_at is not None
    assert AuditEvent.objects.filter(verb="provisioning retried", actor=staff).count() == 1
    assert AuditEvent.objects.filter(object_id=str(account.pk), verb="HMIS provisioning retried",
                                     actor=staff).count() == 1
    assert "sent to the HMIS again" in response.content.decode()

    again = client.post(url, follow=True)
    assert AuditEvent.objects.filter(verb="provisioning retried").count() == 1
    assert "Nothing to retry" in again.content.decode()
    command.refresh_from_db()
    assert command.status == Status.PENDING


def test_retry_is_post_only(client, target):
    account = _account()
    _command(account, Status.FAILED)
    client.force_login(_provisioner())
    assert client.get(reverse("hmis-provisioning-retry", kwargs={"pk": account.pk})).status_code == 405


@pytest.mark.parametrize("who, status", [
    ("other agency", 404), ("own user", 403), ("agency administrator", 403), ("CoC training", 403),
    ("CoC system admin", 302), ("CoC provisioning", 302),
])
def test_who_may_retry(client, target, who, status):
    account = _account()
    command = _command(account, Status.FAILED)
    if who == "other agency":
        person = MembershipFactory(persona="agency_administrator").user
    elif who == "own user":
        person = account.user
    elif who == "agency administrator":
        person = MembershipFactory(organization=account.organization, persona="agency_administrator").user
    else:
        person = StaffFactory(groups=[who])
    client.force_login(person)
    assert client.post(reverse("hmis-provisioning-retry", kwargs={"pk": account.pk})).status_code == status
    command.refresh_from_db()
    assert command.status == (Status.PENDING if status == 302 else Status.FAILED)


# ---------------------------------------------------------------- the provisioning queue


def test_queue_shows_granted_accounts_not_yet_in_the_hmis(client, target):
    granted = _account()
    _command(granted, Status.FAILED, error="the HMIS answered 400: userName taken")
    fine = _account()
    _command(fine, Status.DONE)
    client.force_login(_provisioner())
    page = client.get(reverse("provisioning-queue")).content.decode()
    assert granted.hmis_username in page and "userName taken" in page
    assert reverse("hmis-provisioning-retry", kwargs={"pk": granted.pk}) in page
    assert fine.hmis_username not in page


# ---------------------------------------------------------------- the provisioning staff's page


def test_staff_page_lists_pending_failed_and_drifted(client, target):
    waiting, failed, fine = _account(), _account(), _account()
    _command(waiting, Status.PENDING)
    _command(failed, Status.FAILED, error="the HMIS answered 400")
    _command(fine, Status.DONE)
    ProvisioningDrift.objects.create(user_name="stranger", kind=ProvisioningDrift.Kind.ACTIVE_NOT_IN_PORTAL)
    ProvisioningDrift.objects.create(user_name=fine.hmis_username, subject=str(fine.pk),
                                     kind=ProvisioningDrift.Kind.GROUP_DIFFERS,
                                     detail="in CES_Matcher, role wants CES_Standard")
    client.force_login(_provisioner())
    page = client.get(reverse("hmis-provisioning")).content.decode()
    assert waiting.hmis_username in page and failed.hmis_username in page
    assert "Active in the HMIS but unknown to the portal" in page and "stranger" in page
    assert "HMIS role group differs" in page and "in CES_Matcher, role wants CES_Standard" in page
    assert reverse("hmis-provisioning-retry", kwargs={"pk": failed.pk}) in page
    assert reverse("hmis-provisioning-retry", kwargs={"pk": waiting.pk}) not in page


def test_staff_page_is_linked_from_the_menu_and_home(client, target):
    _command(_account(), Status.FAILED, error="refused")
    client.force_login(_provisioner())
    home = client.get(reverse("home")).content.decode()
    assert reverse("hmis-provisioning") in home
    assert "1 HMIS account failed to reach the HMIS" in home


def test_staff_page_query_count_does_not_grow(client, target, django_assert_max_num_queries):
    client.force_login(_provisioner())
    url = reverse("hmis-provisioning")
    for _ in range(3):
        _command(_account(), Status.FAILED)
    client.get(url)
    with django_assert_max_num_queries(15) as few:
        client.get(url)
    for _ in range(30):
        _command(_account(), Status.PENDING)
        ProvisioningDrift.objects.create(user_name="x", kind=ProvisioningDrift.Kind.MISSING_IN_HMIS)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


# ---------------------------------------------------------------- test connection


def test_only_system_admins_test_the_connection(client, target):
    url = reverse("hmis-provisioning-test")
    client.force_login(_provisioner())
    assert "Test connection" not in client.get(reverse("hmis-provisioning")).content.decode()
    assert client.post(url).status_code == 403
    admin = StaffFactory(groups=["CoC system admin"])
    client.force_login(admin)
    assert "Test connection" in client.get(reverse("hmis-provisioning")).content.decode()
    assert client.get(url).status_code == 405
    page = client.post(url, follow=True).content.decode()
    assert "Cannot use the HMIS at" in page and "cannot be reached" in page
    assert "secret-bearer-token" not in page


def test_a_hanging_hmis_does_not_hold_the_page(client, target, settings):
    import time

    from tests.faults import silent_server

    with silent_server() as port:
        settings.HMIS_SCIM_URL = f"http://127.0.0.1:{port}/v2"
        settings.HMIS_SCIM_CONNECT_TIMEOUT = 0.5
        settings.HMIS_SCIM_TIMEOUT = 0.5
        client.force_login(StaffFactory(groups=["CoC system admin"]))
        started = time.monotonic()
        page = client.post(reverse("hmis-provisioning-test"), follow=True).content.decode()
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert "Cannot use the HMIS" in page or "did not answer" in page


# ---------------------------------------------------------------- a grant is not done until the HMIS has it


def _granted(organization):
    from hmis_access.models import HMISAccount
    from hmis_access.services import access_request_grant
    from tests.training.factories import finish_everything, identify, participating

    participating(organization, "access-center")
    request = finish_everything(identify(organization, programs=list(organization.programs.all())),
                                StaffFactory(groups=["CoC training"]))
    access_request_grant(actor=_provisioner(), access_request_id=request.pk, hmis_username="dreyes",
                         hmis_role="CES_Standard")
    return request, HMISAccount.objects.get(user=request.user)


def test_a_grant_whose_create_failed_is_never_shown_as_done(client, target, organization):
    request, account = _granted(organization)
    client.force_login(account.user)
    page = client.get(reverse("my-access")).content.decode()
    assert "Granted, not yet in the HMIS" in page and "In the HMIS: Pending" in page
    assert "is active." not in page

    ProvisioningCommand.objects.filter(subject=str(account.pk), kind="create").update(
        status=Status.FAILED, last_error="the HMIS answered 400: userName taken", next_attempt_at=None)
    page = client.get(reverse("my-access")).content.decode()
    assert "Granted, not yet in the HMIS" in page and "Failed: the HMIS answered 400: userName taken" in page
    assert "Retry" not in page

    lead = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(lead)
    detail = reverse("access-request-detail", kwargs={"slug": organization.slug, "pk": request.pk})
    page = client.get(detail).content.decode()
    assert "Granted, not yet in the HMIS" in page and "userName taken" in page and "Retry" not in page
    client.force_login(_provisioner())
    page = client.get(detail).content.decode()
    assert reverse("hmis-provisioning-retry", kwargs={"pk": account.pk}) in page

    ProvisioningCommand.objects.filter(subject=str(account.pk)).update(status=Status.DONE, done_at=timezone.now())
    client.force_login(account.user)
    page = client.get(reverse("my-access")).content.decode()
    assert "Granted, not yet in the HMIS" not in page and "In the HMIS: synced just now" in page


def test_without_a_target_a_grant_reads_as_before(client, settings, organization):
    settings.HMIS_SCIM_URL = ""
    request, account = _granted(organization)
    client.force_login(account.user)
    page = client.get(reverse("my-access")).content.decode()
    assert "Access granted" in page and "In the HMIS" not in page and "not yet in the HMIS" not in page
