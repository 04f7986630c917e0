"""The timeliness sweep split into chunks that a real Celery worker takes
from Redis: each referral alerted and escalated once, as one run does."""

import datetime as dt

import pytest
from celery.contrib.testing.worker import start_worker

from hmis_portal.celery import app
from hmis_portal.core.models import AuditEvent, Notification
from referrals.models import ReferralPolicy
from referrals.tasks import referral_timeliness_sweep
from tests.core.test_worker import redis_broker, wait_until  # noqa: F401 - the fixture
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff
from tests.referrals.test_sweep import LA

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_runs_the_split_timeliness_sweep_chunk_by_chunk(redis_broker, policy_rows, settings):  # noqa: F811
    settings.SWEEP_CHUNKS = 3
    ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=5)
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    ces = matcher()
    referrals = [make_referral(program, actor=ces, at=dt.datetime(2026, 1, day, 10, 0, tzinfo=LA))
                 for day in (5, 5, 6, 6, 7, 7)]
    Notification.objects.all().delete()
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        summary = referral_timeliness_sweep(at="2026-01-20T00:05")
        assert summary == "queued in 3 chunks (5 referrals)"
        assert wait_until(lambda: AuditEvent.objects.filter(verb="escalated to the CES team").count() == 5
                          and AuditEvent.objects.filter(verb="became overdue").count() == 5), "the chunks did not run"
        assert wait_until(lambda: not Notification.objects.filter(status=Notification.Status.PENDING).exists())
    # The five most late of each kind (the batch size); the sixth waits for the next run.
    alerted = {int(pk) for pk in AuditEvent.objects.filter(verb="became overdue").values_list("object_id", flat=True)}
    assert alerted == {r.pk for r in referrals[:5]}
    assert Notification.objects.filter(subject__startswith="Overdue CES referral", to_email=staff.email).count() == 5
    assert Notification.objects.filter(subject__startswith="Escalated", to_email=ces.email).count() == 5
