import json
import os
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from hmis_portal.schedule import JOBS, sync_beat_schedule

ROOT = Path(settings.BASE_DIR)
pytestmark = pytest.mark.django_db


def run_sweeps(*args):
    out = StringIO()
    call_command("run_sweeps", *args, stdout=out)
    return out.getvalue().splitlines()


def test_run_sweeps_prints_one_summary_line_per_job():
    lines = run_sweeps("--at", "2026-12-01T00:05")
    assert [line.split(":", 1)[0] for line in lines] == [job.name for job in JOBS]
    assert all(line.split(":", 1)[1].strip() for line in lines)


def test_run_sweeps_passes_the_moment_to_each_job(monkeypatch):
    seen = {}
    from django.utils.module_loading import import_string

    task = import_string(JOBS[0].task)
    monkeypatch.setattr(task, "run", lambda at=None: seen.setdefault("at", at) and "ok")
    run_sweeps("--at", "2026-12-01T00:05", "--only", JOBS[0].name)
    assert seen["at"] == "2026-12-01T00:05:00-08:00"


@pytest.mark.parametrize("args, message", [
    (["--at", "first of December"], "not an ISO datetime"),
    (["--only", "no-such-job"], "Unknown job"),
])
def test_run_sweeps_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        run_sweeps(*args)


def test_beat_schedule_has_the_declared_jobs_and_leaves_others_to_the_admin():
    PeriodicTask.objects.create(name="retired-job", task="nowhere.task", interval=None,
                                crontab=PeriodicTask.objects.first().crontab)
    sync_beat_schedule()
    report = sync_beat_schedule()  # idempotent
    tasks = dict(PeriodicTask.objects.values_list("name", "task"))
    assert tasks == {**{job.name: job.task for job in JOBS}, "retired-job": "nowhere.task"}
    # CoC staff retire it in the admin; the sync only says so.
    assert PeriodicTask.objects.get(name="retired-job").enabled
    assert any("retired-job" in line for line in report)


def test_healthz_reports_database_and_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # whatever REDIS_URL the caller's shell exports
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"] == {"ok": True, "mode": "eager"}


def test_healthz_is_503_when_the_broker_is_unreachable(client, settings):
    from hmis_portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app._pool = None
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = previous
        app._pool = None
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


def test_healthz_answers_503_within_two_seconds_when_the_broker_is_frozen(client, settings):
    from hmis_portal.celery import app
    from tests.faults import silent_server

    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.broker_url
    with silent_server() as port:
        app.conf.broker_url = f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        try:
            response = client.get("/healthz")
        finally:
            app.conf.broker_url = previous
        took = time.monotonic() - started
    assert response.status_code == 503 and response.json()["broker"]["ok"] is False
    assert took < 2


def test_healthz_answers_503_within_two_seconds_when_the_database_hangs(client, monkeypatch, settings):
    from django.db.backends.base.base import BaseDatabaseWrapper

    settings.CELERY_TASK_ALWAYS_EAGER = True
    release = threading.Event()
    real_cursor = BaseDatabaseWrapper.cursor

    def frozen(self):
        if threading.current_thread().name == "healthz-database":
            release.wait(10)  # a server that never answers
        return real_cursor(self)

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", frozen)
    started = time.monotonic()
    try:
        response = client.get("/healthz")
        took = time.monotonic() - started
        # While the stuck check is still waiting, the next poll answers at once.
        again = time.monotonic()
        assert client.get("/healthz").status_code == 503
        assert time.monotonic() - again < 0.5
    finally:
        release.set()
    assert response.status_code == 503 and response.json()["database"] == {"ok": False, "error": "Timeout"}
    assert took < 2
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and client.get("/healthz").status_code != 200:
        time.sleep(0.05)
    assert client.get("/healthz").status_code == 200


# What a child process may inherit from the shell running the tests: enough to
# start Python, nothing that configures the portal (REDIS_URL, DATABASE_URL,
# EMAIL_URL, DEBUG...), so the outcome never depends on who runs the suite.
INHERITED = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT"}


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k in INHERITED}


def _manage(*args, env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean_env(), **env},
                          capture_output=True, text=True, timeout=120)


PRODUCTION = {
    "SECRET_KEY": "k3y-for-the-deploy-check-only-1f9a7c2e4b6d8a0c3e5f7a9b1d3f5a7c9e1b3d5",
    "ALLOWED_HOSTS": "hmis.example.org",
    "DEBUG": "false",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
    "EMAIL_URL": "smtp+tls://mailer@smtp.example.org:587",
    "PORTAL_BASE_URL": "https://hmis.example.org",
}


def test_check_deploy_is_silent_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_without_a_required_setting_stops_with_a_clear_error(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
