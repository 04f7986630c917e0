"""HMIS provisioning delivered in chunks, against real scim2-server processes
(one that advertises SCIM Bulk, one that does not): a chunk is claimed with
one statement and holds at most one command per account, its results are
written set-based, and the guarantees of one-at-a-time delivery hold (order
per account, retries, a dead worker's claim expiring, 409 links, audit)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hmis_portal.core import provisioning
from hmis_portal.core.models import AuditEvent, ProvisioningCommand
from tests.scim_server import FaultProxy

# The servers are kept for the tests of one process (tests/hmis_accounts/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scim")]
Status = ProvisioningCommand.Status
LATER = dt.timedelta(hours=2)
# Enough commands in a chunk for it to go in Bulk requests.
MANY = provisioning.BULK_MIN + 5


@pytest.fixture(params=[True, False], ids=["bulk", "no-bulk"])
def server(request, scim_servers):
    """A real scim2-server, with SCIM Bulk advertised and without, holding nothing."""
    return scim_servers.get(bulk=request.param)


def create(subject, user_name=None, *, active=True):
    return provisioning.provision_create(account_id=subject, user_name=user_name or f"user{subject}",
                                         email=f"user{subject}@example.org", active=active)


def writes(proxy):
    return [(method, path) for method, path, _status in proxy.seen if method != "GET"]


def test_a_chunk_is_claimed_with_one_statement_and_one_command_per_account(scim_settings):
    scim_settings("http://127.0.0.1:9/v2")  # nothing is sent: only claims
    for subject in ("1", "2", "3", "4", "5"):
        create(subject)
        provisioning.provision_active(account_id=subject, active=False)
    now = timezone.now()
    ProvisioningCommand.objects.filter(subject="2", kind="create").update(status=Status.DONE)
    # 3: its create is refused (waits for a person), so its deactivation waits too.
    ProvisioningCommand.objects.filter(subject="3", kind="create").update(status=Status.FAILED, next_attempt_at=None)
    # 4: its create is backing off after a failure.
    ProvisioningCommand.objects.filter(subject="4", kind="create").update(next_attempt_at=now + LATER)
    ids = {(c.subject, c.kind): c.pk for c in ProvisioningCommand.objects.all()}

    with CaptureQueriesContext(connection) as queries:
        chunk = provisioning.claim_chunk(now, 100)
    assert len(queries.captured_queries) == 1
    [statement] = [q["sql"] for q in queries.captured_queries]
    assert statement.startswith("UPDATE") and "RETURNING" in statement
    if connection.vendor == "postgresql":
        assert "FOR UPDATE SKIP LOCKED" in statement
    assert [(c.subject, c.kind) for c in chunk] == [("1", "create"), ("2", "deactivate"), ("5", "create")]
    assert [c.pk for c in chunk] == [ids["1", "create"], ids["2", "deactivate"], ids["5", "create"]]
    assert chunk[0].payload["user_name"] == "user1" and chunk[1].attempts == 0
    claimed = ProvisioningCommand.objects.filter(status=Status.SENDING)
    assert sorted(claimed.values_list("pk", flat=True)) == sorted(c.pk for c in chunk)
    assert set(claimed.values_list("claimed_at", flat=True)) == {now}
    # While an account's command is in flight, its next one is not claimed.
    assert provisioning.claim_chunk(now, 100) == []
    # A chunk's size bounds it, oldest first.
    ProvisioningCommand.objects.update(status=Status.PENDING, claimed_at=None, next_attempt_at=now)
    assert [(c.subject, c.kind) for c in provisioning.claim_chunk(now, 2)] == [("1", "create"), ("2", "create")]


def test_bulk_or_not_the_server_ends_with_exactly_the_portals_active_set(server, scim_settings):
    with FaultProxy(server.port) as proxy:
        scim_settings(proxy.url)
        subjects = [str(n) for n in range(100, 100 + MANY)]
        server.create_user("user100", active=False)  # made by hand in the HMIS: the create links it
        for subject in subjects:
            create(subject)
        result = provisioning.deliver_pending()
        assert result["sent"] == MANY and result["failed"] == 0, result
        inactive = set(subjects[:-3])  # enough for a Bulk request
        for subject in sorted(inactive):
            provisioning.provision_active(account_id=subject, active=False)
        provisioning.provision_active(account_id=subjects[0], active=True)
        provisioning.provision_active(account_id=subjects[0], active=False)  # decided last: Inactive
        result = provisioning.deliver_pending()
    assert result["sent"] == len(inactive) + 2 and result["failed"] == 0, result
    assert ProvisioningCommand.objects.exclude(status=Status.DONE).count() == 0

    users = server.users()
    assert sorted(u["userName"] for u in users) == sorted(f"user{s}" for s in subjects)  # one user each
    assert {u["userName"] for u in users if u["active"]} == {f"user{s}" for s in subjects if s not in inactive}
    assert {u["externalId"] for u in users} == set(subjects)
    linked = ProvisioningCommand.objects.get(subject="100", kind="create")
    assert linked.remote_id == server.user("user100")["id"]
    assert AuditEvent.objects.filter(verb="sent to the HMIS").count() == ProvisioningCommand.objects.count()
    assert AuditEvent.objects.get(object_id=str(linked.pk)).data["result"] == "linked to the existing user"
    if server.bulk:
        assert ("POST", "/v2/Bulk") in writes(proxy)
        # Only the user made by hand is created on its own (its create met it: 409, then linked).
        assert writes(proxy).count(("POST", "/v2/Users")) == 1
        notes = set(AuditEvent.objects.values_list("data__result", flat=True))
        assert {"created (bulk)", "deactivated (bulk)"} <= notes
    else:
        assert not any(path.endswith("/Bulk") for _method, path in writes(proxy))
        assert writes(proxy).count(("POST", "/v2/Users")) == MANY


def test_an_accounts_commands_go_in_order_one_per_chunk(server, scim_settings, monkeypatch):
    scim_settings(server.url)
    chunks = []
    claim_chunk = provisioning.claim_chunk

    def spy(now, size):
        chunk = claim_chunk(now, size)
        chunks.append([(c.subject, c.pk) for c in chunk])
        return chunk

    monkeypatch.setattr(provisioning, "claim_chunk", spy)
    subjects = [str(n) for n in range(200, 200 + MANY)]
    for subject in subjects:
        create(subject)
        provisioning.provision_active(account_id=subject, active=False)
        provisioning.provision_active(account_id=subject, active=True)
    provisioning.provision_active(account_id=subjects[0], active=False)
    result = provisioning.deliver_pending()
    assert result["sent"] == 3 * MANY + 1 and result["failed"] == 0, result

    for chunk in chunks:
        in_chunk = [subject for subject, _pk in chunk]
        assert len(in_chunk) == len(set(in_chunk)), "two commands of one account in one chunk"
    for subject in subjects:
        claimed = [pk for chunk in chunks for s, pk in chunk if s == subject]
        assert claimed == sorted(ProvisioningCommand.objects.filter(subject=subject).values_list("pk", flat=True))
        done = list(ProvisioningCommand.objects.filter(subject=subject).order_by("pk").values_list("done_at", flat=True))
        assert done == sorted(done)
    active = {u["externalId"]: u["active"] for u in server.users()}
    assert active == {s: s != subjects[0] for s in subjects}


def test_a_failed_operation_in_a_bulk_response_fails_only_its_command(scim_server, scim_settings):
    server = scim_server
    with FaultProxy(server.port) as proxy:
        scim_settings(proxy.url)
        subjects = [str(n) for n in range(300, 300 + MANY)]
        for subject in subjects:
            create(subject)
        ids = {c.subject: c.pk for c in ProvisioningCommand.objects.all()}
        # The HMIS fails one operation (503: retried) and refuses another (400: failed at once, for a
        # person to see and Retry, and tried again on the backoff).
        proxy.fail_operations = {str(ids["301"]): 503, str(ids["302"]): 400}
        result = provisioning.deliver_pending()
        assert (result["sent"], result["failed"]) == (MANY - 2, 2), result
        assert writes(proxy) == [("POST", "/v2/Bulk")]

        retried = ProvisioningCommand.objects.get(pk=ids["301"])
        assert retried.status == Status.PENDING and retried.attempts == 1 and "503" in retried.last_error
        assert retried.next_attempt_at > timezone.now() and retried.claimed_at is None
        refused = ProvisioningCommand.objects.get(pk=ids["302"])
        assert refused.status == Status.FAILED and refused.next_attempt_at > timezone.now()
        assert "400" in refused.last_error
        others = ProvisioningCommand.objects.exclude(pk__in=[ids["301"], ids["302"]])
        assert set(others.values_list("status", flat=True)) == {Status.DONE}
        assert set(others.values_list("attempts", flat=True)) == {1}
        assert AuditEvent.objects.filter(verb="sent to the HMIS").count() == MANY - 2
        assert list(AuditEvent.objects.filter(verb="refused by the HMIS").values_list("object_id", flat=True)) \
            == [str(ids["302"])]
        assert sorted(u["userName"] for u in server.users()) == sorted(
            f"user{s}" for s in subjects if s not in ("301", "302"))

        # Their backoff passed, the two are sent again, alone (what the HMIS refused may have been
        # changed there meanwhile; here it takes it).
        proxy.fail_operations = {}
        result = provisioning.deliver_pending(now=timezone.now() + LATER)
    assert (result["sent"], result["failed"]) == (2, 0), result
    assert ProvisioningCommand.objects.get(pk=ids["301"]).status == Status.DONE
    assert ProvisioningCommand.objects.get(pk=ids["302"]).status == Status.DONE
    assert server.user("user301")["active"] is True
    assert server.user("user302")["active"] is True


def test_a_chunk_claimed_by_a_killed_worker_is_delivered_after_its_claim_expires(server, scim_settings):
    scim_settings(server.url)
    subjects = [str(n) for n in range(400, 400 + MANY)]
    for subject in subjects:
        create(subject)
    now = timezone.now()
    assert len(provisioning.claim_chunk(now, provisioning.BATCH_SIZE)) == MANY  # … and the worker dies here
    assert provisioning.deliver_pending(now=now + dt.timedelta(seconds=30))["summary"] == "nothing due"
    assert server.users() == []
    result = provisioning.deliver_pending(now=now + provisioning.CLAIM_TIMEOUT + dt.timedelta(seconds=1))
    assert result["sent"] == MANY, result
    assert sorted(u["externalId"] for u in server.users()) == subjects
    assert ProvisioningCommand.objects.exclude(status=Status.DONE).count() == 0


def test_a_bulk_request_never_exceeds_the_advertised_max_operations(scim_servers, scim_settings):
    server = scim_servers.get(max_operations=provisioning.BULK_MIN)
    with FaultProxy(server.port) as proxy:
        scim_settings(proxy.url)
        for subject in range(500, 500 + 3 * provisioning.BULK_MIN):
            create(str(subject))
        result = provisioning.deliver_pending()
    assert result["sent"] == 3 * provisioning.BULK_MIN, result
    assert writes(proxy) == [("POST", "/v2/Bulk")] * 3


ROLES = ["CES_Matcher", "CES_Standard"]


def test_group_changes_go_in_bulk_requests_when_the_server_advertises_bulk(server, scim_settings):
    for role in ROLES:
        server.create_group(role)
    subjects = [str(n) for n in range(600, 600 + MANY)]
    with FaultProxy(server.port) as proxy:
        scim_settings(proxy.url)
        for subject in subjects:
            create(subject)
        provisioning.deliver_pending()
        remote = {u["externalId"]: u["id"] for u in server.users()}
        for subject in subjects:
            provisioning.provision_group(account_id=subject, group="CES_Standard", managed_groups=ROLES)
        proxy.seen.clear()
        result = provisioning.deliver_pending()
        assert (result["sent"], result["failed"]) == (MANY, 0), result
        assert server.groups() == {"CES_Standard": set(remote.values()), "CES_Matcher": set()}
        joined = writes(proxy)

        # A new role for most: out of one group and into the other, in one operation each way.
        movers = subjects[:-2]
        for subject in movers:
            provisioning.provision_group(account_id=subject, group="CES_Matcher", managed_groups=ROLES)
        # Asked again for a group it is in: nothing to send for it.
        provisioning.provision_group(account_id=subjects[-1], group="CES_Standard", managed_groups=ROLES)
        proxy.seen.clear()
        result = provisioning.deliver_pending()
        moved = writes(proxy)
        group_reads = [path for method, path, _status in proxy.seen if method == "GET" and "/Groups" in path]
    assert (result["sent"], result["failed"]) == (len(movers) + 1, 0), result
    assert server.groups() == {"CES_Matcher": {remote[s] for s in movers},
                               "CES_Standard": {remote[s] for s in subjects[-2:]}}
    assert ProvisioningCommand.objects.exclude(status=Status.DONE).count() == 0
    notes = list(AuditEvent.objects.filter(verb="sent to the HMIS", object_id__in=[
        str(pk) for pk in ProvisioningCommand.objects.filter(kind="set_group").values_list("pk", flat=True)])
        .values_list("data__result", flat=True))
    assert len(notes) == MANY + len(movers) + 1  # every group command, once
    if server.bulk:
        assert joined == [("POST", "/v2/Bulk")] and moved == [("POST", "/v2/Bulk")]
        # The groups are read once for the chunk, not once per command.
        assert len(group_reads) <= len(ROLES)
        assert notes.count("groups +CES_Matcher -CES_Standard (bulk)") == len(movers)
        assert "unchanged" in notes
    else:
        assert not any(path.endswith("/Bulk") for _method, path in joined + moved)
        assert moved.count(("PATCH", f"/v2/Groups/{server.group_id('CES_Matcher')}")) == len(movers)


def test_a_group_the_hmis_lacks_fails_only_that_command_in_bulk(scim_server, scim_settings):
    server = scim_server
    server.create_group("CES_Standard")
    scim_settings(server.url)
    subjects = [str(n) for n in range(700, 700 + MANY)]
    for subject in subjects:
        create(subject)
    provisioning.deliver_pending()
    for subject in subjects[1:]:
        provisioning.provision_group(account_id=subject, group="CES_Standard", managed_groups=ROLES)
    provisioning.provision_group(account_id=subjects[0], group="CES_Matcher", managed_groups=ROLES)
    result = provisioning.deliver_pending()
    assert (result["sent"], result["failed"]) == (MANY - 1, 1), result
    refused = ProvisioningCommand.objects.get(subject=subjects[0], kind="set_group")
    assert refused.status == Status.FAILED and "CES_Matcher" in refused.last_error
    assert len(server.groups()["CES_Standard"]) == MANY - 1
