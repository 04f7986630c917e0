"""A command the HMIS refused reads as failed at once, with when it is tried
again and a Retry for provisioning staff; commands of users the portal does
not know are listed and retried too."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from hmis_access.models import HMISAccount
from hmis_access.services import access_request_grant
from hmis_portal.core import dates, provisioning
from hmis_portal.core.models import AuditEvent, ProvisioningCommand
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.scim_server import FaultProxy
from tests.training.factories import finish_everything, identify, participating

pytestmark = pytest.mark.django_db
Status = ProvisioningCommand.Status


def _granted(organization, username="dreyes", role="CES_Standard"):
    participating(organization, "access-center")
    trainer = StaffFactory(groups=["CoC training"])
    request = finish_everything(identify(organization, programs=list(organization.programs.all())), trainer)
    access_request_grant(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk,
                         hmis_username=username, hmis_role=role)
    return HMISAccount.objects.get(user=request.user)


@pytest.fixture
def refusing(scim_server, scim_settings):
    """The real server behind a proxy that answers 400 to the next create."""
    with FaultProxy(scim_server.port) as proxy:
        scim_settings(proxy.url)
        for role in ("CES_Standard", "CES_Housing_Provider", "CES_Matcher"):
            scim_server.create_group(role)
        proxy.fail, proxy.status, proxy.methods = 1, 400, {"POST"}
        proxy.detail = "userName does not follow the HMIS's rule"
        yield proxy


def test_a_refused_create_reads_failed_at_once_with_its_next_try_and_retry(client, organization, refusing,
                                                                          scim_server):
    account = _granted(organization)
    provisioning.deliver_pending()
    create = ProvisioningCommand.objects.get(subject=str(account.pk), kind="create")
    assert create.status == Status.FAILED
    assert create.next_attempt_at is not None and create.next_attempt_at > timezone.now()
    reason = "the HMIS answered 400: userName does not follow the HMIS's rule"

    client.force_login(account.user)
    page = client.get(reverse("hmis-account-status")).content.decode()
    assert f"Failed: {reason}" in page.replace("&#x27;", "'")
    assert f"next automatic try {dates.moment_text(create.next_attempt_at)}" in page
    assert reverse("hmis-provisioning-retry", kwargs={"pk": account.pk}) not in page

    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    for url in (reverse("provisioning-queue"), reverse("hmis-provisioning")):
        page = client.get(url).content.decode().replace("&#x27;", "'")
        assert f"Failed: {reason}" in page, url
        assert f"next automatic try {dates.moment_text(create.next_attempt_at)}" in page, url
        assert reverse("hmis-provisioning-retry", kwargs={"pk": account.pk}) in page, url


def test_retry_resets_the_attempts_and_sends_now(client, organization, refusing, scim_server):
    account = _granted(organization)
    provisioning.deliver_pending()
    create = ProvisioningCommand.objects.get(subject=str(account.pk), kind="create")
    assert create.attempts == 1
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    before = timezone.now()
    response = client.post(reverse("hmis-provisioning-retry", kwargs={"pk": account.pk}),
                           {"next": reverse("hmis-provisioning")})
    assert response.status_code == 302
    create.refresh_from_db()
    assert create.status == Status.PENDING and create.attempts == 0
    assert before - dt.timedelta(seconds=1) <= create.next_attempt_at <= timezone.now()
    assert AuditEvent.objects.filter(verb="provisioning retried", actor=staff).count() == 1
    provisioning.deliver_pending()
    assert scim_server.user("dreyes")["externalId"] == str(account.pk)


def test_retry_is_for_provisioning_staff_only(client, organization, refusing):
    account = _granted(organization)
    provisioning.deliver_pending()
    url = reverse("hmis-provisioning-retry", kwargs={"pk": account.pk})
    lead = MembershipFactory(organization=organization, persona="agency_administrator").user
    client.force_login(lead)  # sees the account, may not provision
    assert client.post(url).status_code == 403
    client.force_login(MembershipFactory(organization=OrganizationFactory(), persona="agency_administrator").user)
    assert client.post(url).status_code == 404  # another agency's account
    assert ProvisioningCommand.objects.get(subject=str(account.pk), kind="create").status == Status.FAILED
    assert not AuditEvent.objects.filter(verb="provisioning retried").exists()


def test_a_second_refusal_is_not_audited_again(organization, refusing):
    account = _granted(organization)
    provisioning.deliver_pending()
    create = ProvisioningCommand.objects.get(subject=str(account.pk), kind="create")
    refusing.fail = 1
    provisioning.deliver_pending(now=create.next_attempt_at + dt.timedelta(seconds=1))
    create.refresh_from_db()
    assert create.status == Status.FAILED and create.attempts == 2
    assert create.next_attempt_at > timezone.now() + dt.timedelta(seconds=90)  # backs off
    assert AuditEvent.objects.filter(verb="refused by the HMIS").count() == 1


# ---------------------------------------------------------------- users the portal does not know


@pytest.fixture
def unknown(settings):
    """Failed commands of users the portal does not know: a drift deactivation
    of a user only the HMIS has, and a create whose account row was removed."""
    from tests.faults import spare_port

    settings.HMIS_SCIM_URL = f"http://127.0.0.1:{spare_port()}/v2"
    settings.HMIS_SCIM_TOKEN = "secret-bearer-token"
    now = timezone.now()
    drift = ProvisioningCommand.objects.create(
        subject="hmis:9f1c", kind="deactivate", payload={"active": False, "remote_id": "9f1c", "user_name": "ghost.user"},
        status=Status.FAILED, attempts=3, last_error="the HMIS answered 403: read-only user",
        next_attempt_at=now + dt.timedelta(minutes=30))
    removed = ProvisioningCommand.objects.create(
        subject="987654", kind="create", payload={"user_name": "gone.person"}, status=Status.FAILED, attempts=1,
        last_error="the HMIS answered 400: bad email", next_attempt_at=now + dt.timedelta(minutes=1))
    done = ProvisioningCommand.objects.create(subject="hmis:aa11", kind="deactivate", status=Status.DONE,
                                              payload={"active": False, "remote_id": "aa11", "user_name": "old.done"})
    return drift, removed, done


def test_failed_commands_of_unknown_users_are_listed_with_their_own_retry(client, organization, unknown):
    drift, removed, done = unknown
    known = _known_failed(organization)
    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    page = client.get(reverse("hmis-provisioning")).content.decode()
    assert "Users the portal does not know" in page
    section = page.split("Users the portal does not know", 1)[1]
    for command, name, reason in ((drift, "ghost.user", "the HMIS answered 403: read-only user"),
                                  (removed, "gone.person", "the HMIS answered 400: bad email")):
        assert name in section
        assert f"Failed: {reason}" in section
        assert f"next automatic try {dates.moment_text(command.next_attempt_at)}" in section
        assert reverse("hmis-provisioning-command-retry", kwargs={"pk": command.pk}) in section
    assert "old.done" not in page
    assert reverse("hmis-provisioning-command-retry", kwargs={"pk": known.pk}) not in page

    response = client.post(reverse("hmis-provisioning-command-retry", kwargs={"pk": drift.pk}))
    assert response.status_code == 302
    drift.refresh_from_db()
    assert drift.status == Status.PENDING and drift.attempts == 0 and drift.next_attempt_at <= timezone.now()
    assert AuditEvent.objects.filter(verb="provisioning retried", actor=staff).count() == 1
    # A second submit finds nothing failed and changes nothing.
    client.post(reverse("hmis-provisioning-command-retry", kwargs={"pk": drift.pk}))
    assert AuditEvent.objects.filter(verb="provisioning retried", actor=staff).count() == 1


def _known_failed(organization):
    from tests.factories import HMISAccountFactory

    account = HMISAccountFactory(organization=organization)
    return ProvisioningCommand.objects.create(subject=str(account.pk), kind="create", status=Status.FAILED,
                                              payload={"user_name": account.hmis_username},
                                              last_error="the HMIS answered 400", next_attempt_at=None)


def test_unknown_users_and_their_retry_are_for_those_who_see_every_agency(client, organization, unknown):
    drift, removed, _ = unknown
    known = _known_failed(organization)
    url = reverse("hmis-provisioning-command-retry", kwargs={"pk": drift.pk})
    lead = MembershipFactory(organization=organization, persona="agency_administrator").user
    client.force_login(lead)
    assert client.post(url).status_code == 403
    client.force_login(StaffFactory())
    assert client.post(url).status_code == 403
    # An account the portal knows is retried through its account, not here.
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    assert client.post(reverse("hmis-provisioning-command-retry", kwargs={"pk": known.pk})).status_code == 404
    drift.refresh_from_db()
    known.refresh_from_db()
    assert drift.status == known.status == Status.FAILED
    assert not AuditEvent.objects.filter(verb="provisioning retried").exists()


def test_the_home_page_counts_failed_commands_of_unknown_users_too(client, organization, unknown,
                                                                   django_assert_max_num_queries):
    _known_failed(organization)
    # Two failed commands of one account the portal knows count it once.
    second = _known_failed(organization)
    ProvisioningCommand.objects.create(subject=second.subject, kind="deactivate", status=Status.FAILED,
                                       payload={"active": False}, last_error="the HMIS answered 400")
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    client.get(reverse("home"))  # warm the caches
    with django_assert_max_num_queries(12):
        home = client.get(reverse("home")).content.decode()
    # Two accounts the portal knows, and the two users it does not (the done command is not counted).
    assert "4 HMIS accounts failed to reach the HMIS" in home

