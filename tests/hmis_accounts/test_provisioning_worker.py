"""HMIS provisioning delivered by real Celery workers taking the delivery
task from Redis, to a real SCIM 2.0 server (scim2-server, a separate
process): a grant reaches the HMIS through the worker, and a worker killed
in the middle of a delivery loses nothing: once the command's claim expires,
another worker delivers it, once."""

import datetime as dt
import os
import signal
import subprocess
import sys

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from django.db import connection
from django.db.models import F

from hmis_portal.celery import app
from hmis_portal.core import outbox, provisioning
from hmis_portal.core.models import AuditEvent, ProvisioningCommand
from hmis_portal.core.tasks import deliver_provisioning
from tests.core.test_operations import clean_env
from tests.core.test_worker import redis_broker, use_broker, wait_until  # noqa: F401 - the fixture
from tests.faults import OwnRedis
from tests.hmis_accounts.test_scim_journey import _granted
from tests.scim_server import TOKEN, FaultProxy

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

Status = ProvisioningCommand.Status
ROLES = ("CES_Standard", "CES_Housing_Provider", "CES_Matcher")
# CI runs on two loaded cores: a worker process starts in seconds there, not at once.
WAIT = 60.0


def _forget_slots():
    cache.delete_many([f"hmis-provisioning-slot:{i}" for i in range(10)])


@pytest.fixture
def target(scim_server, scim_settings, settings, policy_rows):
    """The real SCIM server as the HMIS, with the CoC's role groups, and tasks
    queued to a broker on commit (not run eagerly in the deciding process).
    Whatever a test changes in this process is put back after it."""
    scim_settings(scim_server.url)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    for role in ROLES:
        scim_server.create_group(role)
    outbox.broker_reset()
    yield scim_server
    outbox.broker_reset()
    _forget_slots()


def _delivered(subject) -> bool:
    rows = list(ProvisioningCommand.objects.filter(subject=str(subject)).values_list("status", flat=True))
    return bool(rows) and all(status == Status.DONE for status in rows)


def test_a_grant_reaches_the_hmis_through_a_real_worker(target, organization, redis_broker):  # noqa: F811
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        # The grant queues the delivery task when its transaction commits.
        account = _granted(organization, username="dreyes")
        assert wait_until(lambda: _delivered(account.pk), WAIT), (
            f"the worker did not deliver the grant: {list(ProvisioningCommand.objects.values('kind', 'status'))}")
    user = target.user("dreyes")
    assert user is not None, "the user is not in the HMIS"
    assert user["active"] is True
    assert user["externalId"] == str(account.pk)
    assert user["emails"][0]["value"] == account.user.email
    assert target.groups()["CES_Standard"] == {user["id"]}
    assert len(target.users()) == 1
    assert provisioning.subject_states([account.pk])[str(account.pk)].status == "synced"


def _database_url() -> str:
    """The test database, for a worker in another process."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker_process(*, broker: str, scim_url: str, log) -> subprocess.Popen:
    """A Celery worker process of its own (pool solo: the task runs in the
    process itself, so killing it kills the delivery)."""
    from django.conf import settings

    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hmis_portal", "worker", "-P", "solo", "-n", "doomed@%h",
         "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        env={**clean_env(), "PYTHONPATH": str(settings.BASE_DIR), "DEBUG": "true", "REDIS_URL": broker,
             "DATABASE_URL": _database_url(), "HMIS_SCIM_URL": scim_url, "HMIS_SCIM_TOKEN": TOKEN,
             "HMIS_SCIM_CONNECT_TIMEOUT": "5", "HMIS_SCIM_TIMEOUT": "300"})


@pytest.mark.postgres
def test_a_worker_killed_mid_delivery_loses_nothing(target, organization, tmp_path):
    redis = OwnRedis().start()
    previous = app.conf.broker_url, app.conf.task_always_eager
    worker = None
    log = open(tmp_path / "worker.log", "w")
    try:
        use_broker(redis.url)
        with FaultProxy(target.port) as proxy:
            # The HMIS hangs on the create: the worker has claimed the command
            # and waits for the answer when it is killed.
            proxy.stall = {"POST"}
            worker = _start_worker_process(broker=redis.url, scim_url=proxy.url, log=log)
            account = _granted(organization, username="pnair")
            assert proxy.stalled.wait(WAIT), f"no create was sent: {(tmp_path / 'worker.log').read_text()}"
            create = ProvisioningCommand.objects.get(subject=str(account.pk), kind="create")
            assert create.status == Status.SENDING and create.claimed_at is not None
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(WAIT)
            assert ("POST", "/v2/Users", 0) in proxy.seen

        assert target.users() == []
        # While the claim is young, nobody takes the command from its worker.
        assert provisioning.deliver_pending()["summary"] == "nothing due"
        assert ProvisioningCommand.objects.get(pk=create.pk).status == Status.SENDING

        # Its claim expires (as after CLAIM_TIMEOUT); the next delivery run,
        # on another worker, sends it and the group after it.
        ProvisioningCommand.objects.filter(status=Status.SENDING).update(
            claimed_at=F("claimed_at") - provisioning.CLAIM_TIMEOUT - dt.timedelta(seconds=1))
        with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
            deliver_provisioning.delay()
            assert wait_until(lambda: _delivered(account.pk), WAIT), (
                f"not delivered after the claim expired: {list(ProvisioningCommand.objects.values('kind', 'status'))}")
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(WAIT)
        log.close()
        use_broker(previous[0])
        app.conf.task_always_eager = previous[1]
        redis.stop()

    [user] = target.users()
    assert user["userName"] == "pnair" and user["active"] is True and user["externalId"] == str(account.pk)
    assert target.groups()["CES_Standard"] == {user["id"]}
    create.refresh_from_db()
    assert create.status == Status.DONE and create.remote_id == user["id"]
    sent = AuditEvent.objects.filter(verb="sent to the HMIS", object_id__in=[
        str(pk) for pk in ProvisioningCommand.objects.filter(subject=str(account.pk)).values_list("pk", flat=True)])
    assert sorted(event.data["result"] for event in sent) == ["created", "groups +CES_Standard"]
