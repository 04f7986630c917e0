"""The inactivity sweep split into chunks that a real Celery worker takes
from Redis: the same rows as one run in this process."""

import datetime as dt

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
