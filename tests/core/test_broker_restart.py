"""Redis stops while a real worker process, run as the compose file runs it,
holds a task it has not yet acknowledged, and comes back on the same port
(empty, as a Redis without persistence does): the worker stays up, the task's
change is made once, a task queued after the restart is run, and the worker
answers its health probe's ping."""

import shlex
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml
from django.conf import settings

from hmis_portal.celery import app
from tests.core.fault_tasks import sleep_then_record
from tests.core.test_operations import clean_env
from tests.core.test_worker import use_broker
from tests.faults import OwnRedis, stop_process

pytestmark = pytest.mark.worker

TASK_SECONDS = 4.0


def runs(ledger, token) -> int:
    if not ledger.exists():
        return 0
    with sqlite3.connect(ledger, timeout=30) as db:
        try:
            return db.execute("SELECT count(*) FROM runs WHERE token = ?", (token,)).fetchone()[0]
        except sqlite3.OperationalError:  # the table is made by the first run
            return 0


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def the_worker_command() -> list[str]:
    """The worker as the compose file runs it, options and all."""
    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
    command = shlex.split(compose["services"]["worker"]["command"])
    assert command[:3] == ["celery", "-A", "hmis_portal"] and "worker" in command
    return command


@pytest.fixture
def worker_and_redis(tmp_path):
    redis = OwnRedis().start()
    previous = app.conf.broker_url, app.conf.task_always_eager
    log = (tmp_path / "worker.log").open("w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", *the_worker_command(), "-P", "prefork", "-c", "1", "-I", "tests.core.fault_tasks"],
        cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        env={**clean_env(), "PYTHONPATH": str(settings.BASE_DIR), "DEBUG": "true", "REDIS_URL": redis.url,
             "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}"})
    use_broker(redis.url)
    try:
        yield worker, redis, log
    finally:
        stop_process(worker)
        log.close()
        use_broker(previous[0])
        app.conf.task_always_eager = previous[1]
        redis.stop()


def worker_log(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def story(worker, log) -> str:
    """What the worker said about the broker, and whether it still runs."""
    words = ("lost", "Restoring", "Connected", "Cannot connect", "CRITICAL", "Unrecoverable", "Error:",
             "succeeded in", "mingle", "ready")
    lines = [line[:200] for line in worker_log(log).splitlines() if any(word in line for word in words)]
    state = "running" if worker.poll() is None else f"exited with status {worker.returncode}"
    return "\n".join([*lines, f"worker process: {state}"])


@pytest.mark.parametrize("outage", [1.0, TASK_SECONDS + 2], ids=["back-before-the-task-ends", "back-after-it-ends"])
def test_the_worker_outlives_a_redis_restart_with_a_task_in_flight(tmp_path, worker_and_redis, outage):
    worker, redis, log = worker_and_redis
    ledger = tmp_path / "ledger.sqlite3"
    sleep_then_record.apply_async((str(ledger), "in-flight", TASK_SECONDS), retry=False)
    # The worker's start (imports, connecting) is not what is measured: wait for the task to begin.
    assert wait_for(lambda: (tmp_path / "ledger.sqlite3.in-flight.started").exists(), 60), story(worker, log)
    started = time.monotonic()

    redis.stop()  # mid-task: the worker holds the message unacknowledged
    time.sleep(outage)
    redis.start()  # the same port, as a restarted container
    use_broker(redis.url)  # this process's publisher reconnects too

    assert wait_for(lambda: runs(ledger, "in-flight") >= 1, TASK_SECONDS + 10), story(worker, log)
    sleep_then_record.apply_async((str(ledger), "after-restart", 0.0), retry=False)
    processed = wait_for(lambda: runs(ledger, "after-restart") >= 1, 20)
    # A second delivery of the in-flight task (restored to the queue, say)
    # would have started by now, ahead of the later task or just after it.
    time.sleep(1.5)
    print(story(worker, log))
    print(f"redis down {outage:.0f}s mid-task: {time.monotonic() - started:.1f}s from the task's start to the end")
    assert worker.poll() is None, "the worker exited\n" + story(worker, log)
    assert processed, "a task queued after the restart was not run\n" + story(worker, log)
    assert runs(ledger, "in-flight") == 1, "the in-flight task's change was made twice\n" + story(worker, log)
    starts = (tmp_path / "ledger.sqlite3.in-flight.started").read_text().count("started")
    assert starts == 1, f"the in-flight task was started {starts} times\n" + story(worker, log)
    assert runs(ledger, "after-restart") == 1
    # And it answers the health probe's ping (hmis_portal/probe.py) again.
    node = f"celery@{socket.gethostname()}"
    assert wait_for(lambda: any(node in reply for reply in app.control.ping(destination=[node], timeout=2)), 15), (
        "the worker does not answer a ping\n" + story(worker, log))
