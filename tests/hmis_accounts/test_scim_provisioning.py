"""HMIS provisioning over SCIM 2.0, against a real scim2-server process."""

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from hmis_portal.core import provisioning
from hmis_portal.core.models import AuditEvent, ProvisioningCommand
from tests.factories import UserFactory
from tests.faults import silent_server, spare_port
from tests.scim_server import FaultProxy

# `hmis_portal.core.scim` is imported by the tests that use it, not here: every
# test process collects this file, and loading the SCIM libraries while the
# suite is being collected costs each process seconds (pydantic reads each of
# their model classes' source by walking the whole call stack). Only the process
# that runs the "scim" group pays for them.

# The servers are kept for the tests of one process (tests/hmis_accounts/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scim")]
Status = ProvisioningCommand.Status
ROLES = ["HMIS Case Manager", "HMIS Agency Admin"]
LATER = dt.timedelta(hours=2)


def grant(account_id, user_name, *, group="HMIS Case Manager"):
    return provisioning.provision_create(
        account_id=account_id, user_name=user_name, given_name="Dana", family_name="Reyes",
        email=f"{user_name}@example.org", agency="Harbor Housing", group=group, managed_groups=ROLES)


def commands(subject):
    return list(ProvisioningCommand.objects.filter(subject=str(subject)).order_by("pk"))


def test_without_a_target_nothing_is_queued(settings):
    settings.HMIS_SCIM_URL = ""
    assert grant(1, "dreyes") == 0
    assert provisioning.provision_active(account_id=1, active=False) == 0
    assert provisioning.provision_many(get_user_model().objects.all(), active=False) == 0
    assert not ProvisioningCommand.objects.exists()
    assert provisioning.deliver_pending()["summary"] == "no HMIS provisioning target configured"


def test_a_server_kept_for_the_next_test_starts_it_empty(scim_servers):
    server = scim_servers.get()
    group = server.create_group("HMIS Case Manager")
    user = server.create_user("dreyes", external_id="41")
    server.request("PATCH", f"/Groups/{group['id']}", _add(user["id"]))

    assert scim_servers.get() is server  # the same process, emptied through its SCIM API
    assert server.users() == [] and server.groups() == {}
    assert server.get("/Users")["totalResults"] == server.get("/Groups")["totalResults"] == 0
    # The names are free again, as on a server just started.
    assert server.create_user("dreyes", external_id="41")["id"] != user["id"]
    assert server.create_group("HMIS Case Manager")["id"] != group["id"]

    # A test that stopped it (an HMIS gone down) leaves the next test a server started afresh.
    server.stop()
    again = scim_servers.get()
    assert again is not server and again.users() == [] and again.groups() == {}


def test_grant_inactive_reactivate_role_change_reach_the_server(scim_server, scim_settings):
    scim_settings(scim_server.url)
    for name in ROLES:
        scim_server.create_group(name)

    with transaction.atomic():
        assert grant(41, "dreyes") == 2
    result = provisioning.deliver_pending()
    assert result["sent"] == 2, result
    user = scim_server.user("dreyes")
    assert user["externalId"] == "41"
    assert user["active"] is True
    assert user["name"] == {"givenName": "Dana", "familyName": "Reyes"}
    assert user["emails"][0]["value"] == "dreyes@example.org"
    assert user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["organization"] == "Harbor Housing"
    assert scim_server.groups() == {"HMIS Case Manager": {user["id"]}, "HMIS Agency Admin": set()}
    assert [c.status for c in commands(41)] == [Status.DONE, Status.DONE]
    assert {c.remote_id for c in commands(41)} == {user["id"]}

    # Inactive: active=false; the same decision twice changes nothing more.
    provisioning.provision_active(account_id=41, active=False)
    provisioning.deliver_pending()
    deactivated = scim_server.user("dreyes")
    assert deactivated["active"] is False
    provisioning.provision_active(account_id=41, active=False)
    provisioning.deliver_pending()
    assert scim_server.user("dreyes")["meta"]["version"] == deactivated["meta"]["version"]
    assert AuditEvent.objects.filter(verb="sent to the HMIS", data__result="unchanged").count() == 1

    # Reactivation, then a new role: moved from one group to the other.
    provisioning.provision_active(account_id=41, active=True)
    provisioning.provision_group(account_id=41, group="HMIS Agency Admin", managed_groups=ROLES)
    provisioning.deliver_pending()
    assert scim_server.user("dreyes")["active"] is True
    assert scim_server.groups() == {"HMIS Case Manager": set(), "HMIS Agency Admin": {user["id"]}}
    assert len(scim_server.users()) == 1
    assert provisioning.subject_states([41])["41"].status == "synced"


def test_create_that_meets_an_existing_user_links_it(scim_server, scim_settings):
    scim_settings(scim_server.url)
    existing = scim_server.create_user("jlee", active=False)
    provisioning.provision_create(account_id=7, user_name="jlee", email="jlee@example.org")
    assert provisioning.deliver_pending()["sent"] == 1
    [user] = scim_server.users()
    assert user["id"] == existing["id"]
    assert user["externalId"] == "7"
    assert user["active"] is True
    [command] = commands(7)
    assert command.remote_id == existing["id"]
    assert AuditEvent.objects.get(verb="sent to the HMIS").data["result"] == "linked to the existing user"


def test_commands_of_one_account_go_in_order(scim_server, scim_settings):
    scim_settings(scim_server.url)
    grant(8, "amoss", group=None)
    provisioning.provision_active(account_id=8, active=False)
    create, deactivate = commands(8)
    now = timezone.now()
    assert provisioning.claim(deactivate.pk, now) is None  # the create is not done yet
    provisioning.deliver_pending()
    assert [c.status for c in commands(8)] == [Status.DONE, Status.DONE]
    assert scim_server.user("amoss")["active"] is False


def test_a_refusal_fails_visibly_and_blocks_the_account_until_retried(scim_server, scim_settings):
    scim_settings(scim_server.url, token="wrong-token")
    grant(9, "tbaker", group=None)
    provisioning.provision_active(account_id=9, active=False)
    result = provisioning.deliver_pending()
    assert result["sent"] == 0
    create, deactivate = commands(9)
    # Failed at once; tried again by itself only after its backoff.
    assert create.status == Status.FAILED and create.next_attempt_at > timezone.now()
    assert provisioning.deliver_pending()["summary"] == "nothing due"
    assert "401" in create.last_error
    assert deactivate.status == Status.PENDING and deactivate.attempts == 0
    assert AuditEvent.objects.filter(verb="refused by the HMIS").count() == 1
    assert provisioning.subject_states([9])["9"].status == "failed"
    assert "wrong-token" not in create.last_error

    scim_settings(scim_server.url)
    staff = UserFactory()
    assert provisioning.command_retry(actor=staff, ids=[create.pk]) == 1
    assert provisioning.deliver_pending()["sent"] == 2
    assert scim_server.user("tbaker")["active"] is False
    assert AuditEvent.objects.filter(verb="provisioning retried", actor=staff).count() == 1


def test_server_stopped_command_is_retried_later_and_not_lost(scim_settings):
    port = spare_port()
    scim_settings(f"http://127.0.0.1:{port}/v2")
    grant(10, "kwu", group=None)
    result = provisioning.deliver_pending()
    assert result["sent"] == 0
    [command] = commands(10)
    assert command.status == Status.PENDING and command.attempts == 1
    assert "cannot be reached" in command.last_error
    assert command.next_attempt_at > timezone.now()
    # Not due again until its backoff has passed.
    assert provisioning.deliver_pending()["summary"] == "nothing due"

    from tests.scim_server import ScimServer
    server = ScimServer()
    server.port = port
    server.start()
    try:
        assert provisioning.deliver_pending(now=timezone.now() + LATER)["sent"] == 1
        assert server.user("kwu")["externalId"] == "10"
    finally:
        server.stop()


def test_a_hanging_server_costs_a_bounded_wait(scim_settings, settings):
    with silent_server() as port:
        scim_settings(f"http://127.0.0.1:{port}/v2")
        settings.HMIS_SCIM_TIMEOUT = 0.5
        for account in range(20, 26):
            provisioning.provision_active(account_id=account, active=False)
        started = time.monotonic()
        result = provisioning.deliver_pending()
        elapsed = time.monotonic() - started
    assert result["sent"] == 0
    assert elapsed < 4, elapsed  # three timeouts, then the run stops
    tried = ProvisioningCommand.objects.filter(attempts=1)
    assert tried.count() == provisioning.STOP_AFTER_FAILURES
    assert all("cannot be reached" in c.last_error for c in tried)
    assert ProvisioningCommand.objects.filter(attempts=0, status=Status.PENDING).count() == 3


def test_a_server_error_is_retried(scim_server, scim_settings):
    with FaultProxy(scim_server.port) as proxy:
        scim_settings(proxy.url)
        proxy.fail, proxy.methods = 1, {"POST"}
        grant(11, "ogarcia", group=None)
        assert provisioning.deliver_pending()["sent"] == 0
        [command] = commands(11)
        assert command.status == Status.PENDING and "500" in command.last_error
        assert scim_server.users() == []
        assert provisioning.deliver_pending(now=timezone.now() + LATER)["sent"] == 1
    assert [u["userName"] for u in scim_server.users()] == ["ogarcia"]
    assert ("POST", "/v2/Users", 500) in proxy.seen and ("POST", "/v2/Users", 201) in proxy.seen


DISCOVERY = ("/v2/ResourceTypes", "/v2/Schemas", "/v2/ServiceProviderConfig")


def test_what_the_hmis_says_of_itself_is_read_again_only_when_it_may_have_changed(scim_server, scim_settings,
                                                                                   monkeypatch):
    """A delivery run uses what the process discovered of the HMIS before; a
    400 (the HMIS finds the request does not fit its schemas), the passing of
    DISCOVERY_SECONDS, or "Test connection" makes it discover again."""
    from hmis_portal.core import scim

    with FaultProxy(scim_server.port) as proxy:
        def discovered():
            asked = sorted(path.split("?")[0] for method, path, _status in proxy.seen
                           if method == "GET" and path.split("?")[0] in DISCOVERY)
            proxy.seen.clear()
            return asked

        scim_settings(proxy.url)
        grant(15, "tmoss", group=None)
        assert provisioning.deliver_pending()["sent"] == 1
        assert discovered() == list(DISCOVERY)
        provisioning.provision_active(account_id=15, active=False)
        assert provisioning.deliver_pending()["sent"] == 1
        assert discovered() == []
        assert scim_server.user("tmoss")["active"] is False

        proxy.fail, proxy.status, proxy.methods = 1, 400, {"PATCH"}
        provisioning.provision_active(account_id=15, active=True)
        assert provisioning.deliver_pending()["failed"] == 1
        assert discovered() == []  # the run that met the 400 goes on with what it had
        assert provisioning.deliver_pending(now=timezone.now() + LATER)["sent"] == 1
        assert discovered() == list(DISCOVERY)
        assert scim_server.user("tmoss")["active"] is True

        assert scim.check_connection()[0]
        assert discovered() == list(DISCOVERY)
        monkeypatch.setattr(scim, "DISCOVERY_SECONDS", 0)  # what was discovered is now too old
        provisioning.provision_active(account_id=15, active=False)
        assert provisioning.deliver_pending()["sent"] == 1
        assert discovered() == list(DISCOVERY)


def test_a_command_claimed_by_a_killed_worker_is_delivered_after_its_claim_expires(scim_server, scim_settings):
    scim_settings(scim_server.url)
    grant(12, "pnair", group=None)
    [command] = commands(12)
    now = timezone.now()
    assert provisioning.claim(command.pk, now) is not None  # … and the worker dies here
    assert provisioning.deliver_pending(now=now + dt.timedelta(seconds=30))["summary"] == "nothing due"
    assert scim_server.users() == []
    result = provisioning.deliver_pending(now=now + provisioning.CLAIM_TIMEOUT + dt.timedelta(seconds=1))
    assert result["sent"] == 1
    assert scim_server.user("pnair")["externalId"] == "12"


def test_a_create_sent_twice_makes_one_user(scim_server, scim_settings):
    """The worker died after the HMIS created the user: the command is sent
    again, meets its own user (409) and links it."""
    from hmis_portal.core import scim

    scim_settings(scim_server.url)
    grant(13, "rkim", group=None)
    [command] = commands(13)
    with scim.Target.from_settings() as target:
        first = target.execute(command)
        second = target.execute(command)
    assert (first.note, second.note) == ("created", "linked to the existing user")
    assert first.remote_id == second.remote_id
    assert len(scim_server.users()) == 1


def test_the_same_grant_twice_queues_one_create(scim_settings):
    scim_settings("http://127.0.0.1:9/v2")
    assert grant(14, "sali") == 2
    assert grant(14, "sali") == 0
    assert [c.kind for c in commands(14)] == ["create", "set_group"]


def test_set_based_enqueue_writes_one_command_per_account_without_a_request(scim_settings):
    scim_settings(f"http://127.0.0.1:{spare_port()}/v2")  # nothing listens: a request would fail the sweep
    people = UserFactory.create_batch(5)
    chosen = get_user_model().objects.filter(pk__in=[p.pk for p in people[:3]])
    with transaction.atomic():
        assert provisioning.provision_many(chosen, active=False, dedupe_prefix="inactive:2026-12-05:") == 3
        assert provisioning.provision_many(chosen, active=False, dedupe_prefix="inactive:2026-12-05:") == 0
    rows = ProvisioningCommand.objects.order_by("subject")
    assert [(r.subject, r.kind, r.payload, r.status) for r in rows] == [
        (str(p.pk), "deactivate", {"active": False}, Status.PENDING) for p in sorted(people[:3], key=lambda p: str(p.pk))]
    assert rows[0].dedupe_key == f"inactive:2026-12-05:{rows[0].subject}"


def test_check_connection(scim_server, scim_settings, capsys):
    from hmis_portal.core import scim

    scim_settings(scim_server.url)
    ok, line = scim.check_connection()
    assert ok and line.startswith(f"Connected to the HMIS at {scim_server.url}") and "bulk" in line
    call_command("hmis_scim_check")
    assert "Connected to the HMIS" in capsys.readouterr().out
    scim_settings(scim_server.url, token="wrong-token")
    ok, line = scim.check_connection()
    assert not ok and "401" in line and "wrong-token" not in line
    scim_settings(f"http://127.0.0.1:{spare_port()}/v2")
    with pytest.raises(CommandError, match="cannot be reached"):
        call_command("hmis_scim_check")
    scim_settings("")
    assert scim.check_connection() == (False, "No HMIS provisioning target: HMIS_SCIM_URL is not set "
                                              "(provisioning is manual).")


def _portal(server):
    """Three portal accounts; the server holds two of them and one stranger."""
    from hmis_portal.core import scim

    server.create_group("HMIS Case Manager")
    server.create_group("HMIS Agency Admin")
    ok = server.create_user("ok", external_id="1")
    server.request("PATCH", f"/Groups/{_group_id(server, 'HMIS Case Manager')}", _add(ok["id"]))
    moved = server.create_user("moved", external_id="2")
    server.request("PATCH", f"/Groups/{_group_id(server, 'HMIS Case Manager')}", _add(moved["id"]))
    server.create_user("left", external_id="4")  # Inactive in the portal, active in the HMIS
    server.create_user("stranger")  # activated by hand in the HMIS
    return [
        scim.PortalAccount("1", "ok", True, "HMIS Case Manager"),
        scim.PortalAccount("2", "moved", True, "HMIS Agency Admin"),
        scim.PortalAccount("3", "missing", True, "HMIS Case Manager", "Mia", "Sing", "missing@example.org", "Harbor"),
        scim.PortalAccount("4", "left", False, "HMIS Case Manager"),
    ]


def _group_id(server, name):
    return next(g["id"] for g in server.get("/Groups").get("Resources", []) if g["displayName"] == name)


def _add(user_id):
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}]}


def test_reconciliation_reports_drift_pages_through_users_and_corrects_it(scim_server, scim_settings):
    from hmis_portal.core import scim

    scim_settings(scim_server.url)
    accounts = _portal(scim_server)
    with FaultProxy(scim_server.port) as proxy:
        with scim.Target(proxy.url, scim_server.token) as target:
            drifts = scim.reconcile(target, accounts, managed_groups=ROLES, page_size=2)
        assert [p for m, p, s in proxy.seen if "/Users?" in p and "startIndex" in p][:3] == [
            "/v2/Users?startIndex=1&count=2", "/v2/Users?startIndex=3&count=2"]
    assert sorted(d.line() for d in drifts) == [
        "DRIFT left active-in-hmis-inactive-in-portal",
        "DRIFT missing missing-in-hmis",
        "DRIFT moved role-group-differs (in HMIS Case Manager, role wants HMIS Agency Admin)",
        "DRIFT stranger active-in-hmis-unknown-in-portal",
    ]

    # A dry run changes nothing anywhere.
    before = scim_server.get("/Users?count=100")
    report = scim.sync(accounts, managed_groups=ROLES, dry_run=True)
    assert len(report.drifts) == 4 and report.queued == 0
    assert not ProvisioningCommand.objects.exists()
    assert scim_server.get("/Users?count=100") == before

    report = scim.sync(accounts, managed_groups=ROLES, deactivate_unknown=True)
    assert report.queued == 5  # create + group, group, deactivate, deactivate the stranger
    assert report.delivery["sent"] == 5, report.delivery
    users = {u["userName"]: u for u in scim_server.users()}
    assert users["missing"]["externalId"] == "3" and users["missing"]["active"] is True
    assert users["left"]["active"] is False and users["stranger"]["active"] is False
    groups = scim_server.groups()
    assert groups["HMIS Agency Admin"] == {users["moved"]["id"]}
    assert groups["HMIS Case Manager"] == {users["ok"]["id"], users["missing"]["id"]}

    # Run again with nothing changed: no drift, nothing sent that changes the target.
    with FaultProxy(scim_server.port) as proxy:
        with scim.Target(proxy.url, scim_server.token) as target:
            again = scim.sync(accounts, managed_groups=ROLES, deactivate_unknown=True, target=target)
    assert again.drifts == [] and again.queued == 0
    assert [(m, p) for m, p, s in proxy.seen if m != "GET"] == []


def test_hmis_sync_command(scim_server, scim_settings, capsys, monkeypatch):
    from hmis_portal.core import registry, scim

    scim_settings(scim_server.url)
    accounts = _portal(scim_server)
    monkeypatch.setattr(registry.hmis_directory, "_function", lambda: scim.PortalDirectory(accounts, ROLES))
    call_command("hmis_sync", "--dry-run")
    out = capsys.readouterr().out
    assert "DRIFT missing missing-in-hmis" in out and "DRIFT stranger active-in-hmis-unknown-in-portal" in out
    assert not ProvisioningCommand.objects.exists()
    call_command("hmis_sync")
    call_command("hmis_sync")
    out = capsys.readouterr().out.splitlines()
    # Without the policy's word, the stranger is reported every night, never touched.
    assert out[-2:] == ["DRIFT stranger active-in-hmis-unknown-in-portal",
                        "1 drifted; 0 commands queued; nothing due"]
    assert scim_server.user("stranger")["active"] is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_grant_at_once_queues_one_create(scim_server, scim_settings):
    from tests.concurrency import race

    scim_settings(scim_server.url)
    scim_server.create_group("HMIS Case Manager")
    scim_server.create_group("HMIS Agency Admin")
    counts = []

    def decide():
        with transaction.atomic():
            counts.append(grant(15, "vchen"))
            time.sleep(0.2)  # the decision's transaction is still open when the other one writes

    assert race(decide, decide) == ["done", "done"]
    assert sorted(counts) == [0, 2]
    assert [c.kind for c in commands(15)] == ["create", "set_group"]
    assert provisioning.deliver_pending()["sent"] == 2
    assert [u["userName"] for u in scim_server.users()] == ["vchen"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_delivery_runs_at_once_send_each_command_once(scim_server, scim_settings, settings):
    from tests.concurrency import race

    scim_settings(scim_server.url)
    # One delivery first, alone, so the race below is about the claims only
    # (the SCIM model classes are built under `scim.MODELS_LOCK`).
    provisioning.provision_create(account_id=29, user_name="warmup")
    assert provisioning.deliver_pending()["sent"] == 1
    for account in range(30, 36):
        provisioning.provision_create(account_id=account, user_name=f"user{account}")
        provisioning.provision_active(account_id=account, active=False)
    results = []
    assert race(*[lambda: results.append(provisioning.deliver_pending())] * 2) == ["done", "done"]
    assert sum(r["sent"] for r in results) == 12
    assert ProvisioningCommand.objects.exclude(status=Status.DONE).count() == 0
    assert AuditEvent.objects.filter(verb="sent to the HMIS").count() == 13
    users = [u for u in scim_server.users() if u["userName"] != "warmup"]
    assert len(users) == 6 and not any(u["active"] for u in users)


def _settings_in_a_fresh_process(tmp_path, **environ):
    import os
    import subprocess
    import sys

    script = ("import django; django.setup(); from django.conf import settings; "
              "print(repr((settings.HMIS_SCIM_URL, settings.HMIS_SCIM_TOKEN)))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMIS_SCIM")}
    env.update(DJANGO_SETTINGS_MODULE="hmis_portal.settings", DEBUG="true", **environ)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                          cwd=os.getcwd())


def test_the_token_is_read_from_a_secret_file(tmp_path):
    secret = tmp_path / "scim-token"
    secret.write_text("s3cret-from-file\n")
    result = _settings_in_a_fresh_process(tmp_path, HMIS_SCIM_URL="https://hmis.example.org/scim/v2/",
                                          HMIS_SCIM_TOKEN_FILE=str(secret))
    assert result.stdout.strip().splitlines()[-1] == "('https://hmis.example.org/scim/v2', 's3cret-from-file')"

    result = _settings_in_a_fresh_process(tmp_path, HMIS_SCIM_TOKEN_FILE=str(tmp_path / "absent"))
    assert result.returncode != 0
    assert "HMIS_SCIM_TOKEN_FILE cannot be read (No such file or directory)" in result.stderr


def test_queueing_makes_no_request_and_asks_a_worker_after_commit(scim_settings, settings, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    from hmis_portal.core import outbox

    queued = []
    monkeypatch.setattr(outbox, "publish", lambda task, args=(), **kw: queued.append(task.name) or True)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with silent_server() as port:  # an HMIS that would hold any request made now
        scim_settings(f"http://127.0.0.1:{port}/v2")
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                grant(16, "ebrook")
                provisioning.provision_active(account_id=16, active=False)
            assert queued == []
        elapsed = time.monotonic() - started
    assert elapsed < 0.5, elapsed
    assert queued == [provisioning.DELIVERY_TASK]  # one task for the whole decision


def test_a_sweeps_burst_of_deactivations_goes_in_bulk(scim_server, scim_settings):
    scim_settings(scim_server.url)
    people = UserFactory.create_batch(provisioning.BULK_MIN + 2)
    for person in people:
        provisioning.provision_create(account_id=person.pk, user_name=f"u{person.pk}")
    assert provisioning.deliver_pending()["sent"] == len(people)
    gone = scim_server.user(f"u{people[0].pk}")
    scim_server.request("DELETE", f"/Users/{gone['id']}")  # deleted by hand in the HMIS

    with FaultProxy(scim_server.port) as proxy:
        scim_settings(proxy.url)
        with transaction.atomic():
            assert provisioning.provision_many(get_user_model().objects.filter(
                pk__in=[p.pk for p in people]), active=False) == len(people)
        proxy.fail, proxy.methods = 1, {"POST"}  # the first Bulk request fails
        assert provisioning.deliver_pending()["sent"] == 0
        assert ProvisioningCommand.objects.filter(kind="deactivate", attempts=1, status=Status.PENDING).count() \
            == len(people)
        result = provisioning.deliver_pending(now=timezone.now() + LATER)
    assert result["sent"] == len(people), result
    writes = [(m, p, s) for m, p, s in proxy.seen if m != "GET"]
    assert writes == [("POST", "/v2/Bulk", 500), ("POST", "/v2/Bulk", 200)]
    assert not any(u["active"] for u in scim_server.users())
    assert len(scim_server.users()) == len(people) - 1
    deactivations = ProvisioningCommand.objects.filter(kind="deactivate").values_list("pk", flat=True)
    notes = sorted(event.data["result"] for event in AuditEvent.objects.filter(
        verb="sent to the HMIS", object_id__in=[str(pk) for pk in deactivations]))
    assert notes == ["deactivated (bulk)"] * (len(people) - 1) + ["not in the HMIS: nothing to deactivate"]
