"""A worker process killed mid-task: the task goes back on the queue and runs
again (acks_late with task_reject_on_worker_lost), instead of being
acknowledged and lost."""

import subprocess
import sys
import time

import pytest
from django.conf import settings

from hmis_portal.celery import app
from tests.core.fault_tasks import die_on_first_run
from tests.core.test_operations import clean_env
from tests.core.test_worker import use_broker
from tests.faults import OwnRedis

pytestmark = pytest.mark.worker


def test_a_task_whose_worker_dies_is_run_again(tmp_path):
    redis = OwnRedis().start()
    previous = app.conf.broker_url, app.conf.task_always_eager
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hmis_portal", "worker", "-P", "prefork", "-c", "1",
         "-I", "tests.core.fault_tasks", "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**clean_env(), "PYTHONPATH": str(settings.BASE_DIR), "DEBUG": "true", "REDIS_URL": redis.url,
             "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}"})
    marker = tmp_path / "marker"
    try:
        use_broker(redis.url)
        started = time.monotonic()
        die_on_first_run.apply_async((str(marker),), retry=False)
        deadline = started + 60
        while time.monotonic() < deadline and not (tmp_path / "marker.done").exists():
            time.sleep(0.2)
        took = time.monotonic() - started
        assert marker.exists(), "the task never started"
        assert (tmp_path / "marker.done").exists(), "the task was lost with its worker"
        print(f"worker killed mid-task: run again and finished after {took:.1f}s")
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        use_broker(previous[0])
        app.conf.task_always_eager = previous[1]
        redis.stop()
