"""The inactivity sweep split into chunks that a real Celery worker takes
from Redis: the same rows as one run in this process."""

import datetime as dt
import time

import pytest
from celery.contrib.testing.worker import start_worker

from hmis_access.models import HMISAccount
from hmis_accounts.tasks import hmis_inactivity_sweep
from hmis_portal.celery import app
from hmis_portal.core.models import AuditEvent, Notification
from tests.core.test_worker import redis_broker, wait_until  # noqa: F401 - the fixture
from tests.hmis_access.hmis import account_last_login, agency_admin, local

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_split_sweep_chunk_by_chunk(redis_broker, policy_rows, settings):  # noqa: F811
    settings.SWEEP_CHUNKS = 3
    today = dt.date(2026, 6, 15)
    due = [account_last_login(local(today - dt.timedelta(days=30), 10)) for _ in range(6)]
    retrain = [account_last_login(local(today - dt.timedelta(days=90), 10)) for _ in range(2)]
    fine = account_last_login(local(today - dt.timedelta(days=3), 10))
    admin = agency_admin(due[0].organization)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        summary = hmis_inactivity_sweep(at=local(today, 0, 5).isoformat())
        assert summary.startswith("queued in 3 chunks")
        assert wait_until(lambda: AuditEvent.objects.filter(verb="retraining required").count() == 2
                          and AuditEvent.objects.filter(verb="made inactive").count() == 8), "the chunks did not run"
        assert wait_until(lambda: not Notification.objects.filter(status=Notification.Status.PENDING).exists())
    assert set(HMISAccount.objects.filter(status=HMISAccount.Status.INACTIVE).values_list("pk", flat=True)) == {
        a.pk for a in due + retrain}
    assert HMISAccount.objects.get(pk=fine.pk).status == HMISAccount.Status.ACTIVE
    told = [a.user.email for a in due + retrain] + [admin.email]
    assert sorted(Notification.objects.filter(subject__startswith="HMIS account is now Inactive")
                  .values_list("to_email", flat=True)) == sorted(told)


CHUNK_SECONDS = 0.4


def test_the_split_sweeps_duration_runs_from_its_first_chunks_start_to_its_last_chunks_end(
        redis_broker, policy_rows, settings):  # noqa: F811
    """The job's own task only hands the chunks out; /metrics's duration of
    the run is its chunks', wherever and whenever they run."""
    from celery import signals
    from django.core.cache import cache

    from hmis_portal.core.metrics import SWEEP_KEY

    settings.SWEEP_CHUNKS = 3
    today = dt.date(2026, 6, 15)
    for _ in range(6):
        account_last_login(local(today - dt.timedelta(days=30), 10))
    chunk = "hmis_accounts.tasks.hmis_inactivity_sweep_chunk"
    seen = {"started": [], "finished": []}

    # Each chunk takes a while, as one over many accounts would. (Connected
    # after the portal's own receivers: the chunk has started when this runs.)
    def chunk_takes_a_while(task=None, **kwargs):
        if task.name == chunk:
            seen["started"].append(time.time())
            time.sleep(CHUNK_SECONDS)

    def chunk_done(task=None, **kwargs):
        if task.name == chunk:
            seen["finished"].append(time.time())

    signals.task_prerun.connect(chunk_takes_a_while)
    signals.task_postrun.connect(chunk_done)
    cache.delete(f"{SWEEP_KEY}hmis-inactivity-sweep")
    try:
        with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
            hmis_inactivity_sweep.delay(at=local(today, 0, 5).isoformat())
            assert wait_until(lambda: len(seen["finished"]) == 3, 30), "the chunks did not run"
            assert wait_until(lambda: cache.get(f"{SWEEP_KEY}hmis-inactivity-sweep") is not None, 5)
            time.sleep(0.5)  # nothing else records a duration for the run
    finally:
        signals.task_prerun.disconnect(chunk_takes_a_while)
        signals.task_postrun.disconnect(chunk_done)
    assert len(seen["started"]) == len(seen["finished"]) == 3
    recorded = cache.get(f"{SWEEP_KEY}hmis-inactivity-sweep")["seconds"]
    span = max(seen["finished"]) - min(seen["started"])
    assert 3 * CHUNK_SECONDS <= recorded <= span + 0.1, (recorded, span)
