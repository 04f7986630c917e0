"""Secrets from *_FILE files, the health probes, and the one request size."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

ROOT = Path(django_settings.BASE_DIR)
INHERITED = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT"}
PRODUCTION = {"ALLOWED_HOSTS": "hmis.example.org", "DEBUG": "false"}
SHOW = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hmis_portal.settings'); "
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(settings.SECRET_KEY); print(d['PASSWORD']); print(d['NAME']); print(settings.EMAIL_HOST_PASSWORD); "
        "print(settings.EMAIL_HOST)")


def settings_in(env):
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if k in INHERITED}, **env})


def test_secrets_are_read_from_files(tmp_path):
    (tmp_path / "key").write_text("file-secret-key-0123456789abcdef0123456789abcdef0123456789\n")
    (tmp_path / "db").write_text("db-pass-from-file\n")
    (tmp_path / "mail").write_text("mail-pass-from-file")
    (tmp_path / "url").write_text("postgres://portal@db.internal:5432/portal_db\n")
    result = settings_in({**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "key"),
                          "DATABASE_URL_FILE": str(tmp_path / "url"),
                          "DATABASE_PASSWORD_FILE": str(tmp_path / "db"),
                          "EMAIL_URL": "smtp+tls://mailer@smtp.example.org:587",
                          "EMAIL_PASSWORD_FILE": str(tmp_path / "mail")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["file-secret-key-0123456789abcdef0123456789abcdef0123456789",
                                          "db-pass-from-file", "portal_db", "mail-pass-from-file",
                                          "smtp.example.org"]


def test_a_secret_file_that_cannot_be_read_is_a_clear_error(tmp_path):
    result = settings_in({**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert result.returncode != 0
    assert "SECRET_KEY_FILE cannot be read" in result.stderr


def test_a_secret_given_twice_is_refused(tmp_path):
    (tmp_path / "key").write_text("s3cret-one-0123456789abcdef0123456789abcdef0123456789abcdef")
    result = settings_in({**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "key"),
                          "SECRET_KEY": "s3cret-two-0123456789abcdef0123456789abcdef0123456789abcdef"})
    assert result.returncode != 0
    assert "both SECRET_KEY and SECRET_KEY_FILE" in result.stderr
    assert "s3cret-one" not in result.stderr and "s3cret-two" not in result.stderr


@pytest.mark.parametrize("url", ["postgress://portal:hunter2-s3cret@db/portal", "hunter2-s3cret"])
def test_a_malformed_database_url_never_shows_its_password(tmp_path, url):
    (tmp_path / "key").write_text("file-secret-key-0123456789abcdef0123456789abcdef0123456789")
    result = settings_in({**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "key"), "DATABASE_URL": url})
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert "hunter2" not in result.stderr and "hunter2" not in result.stdout


def test_a_malformed_email_url_never_shows_its_password(tmp_path):
    (tmp_path / "key").write_text("file-secret-key-0123456789abcdef0123456789abcdef0123456789")
    result = settings_in({**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "key"),
                          "EMAIL_URL": "smtp+tlz://mailer:hunter2-s3cret@smtp.example.org:587"})
    assert result.returncode != 0
    assert "EMAIL_URL" in result.stderr
    assert "hunter2" not in result.stderr and "hunter2" not in result.stdout


@pytest.mark.django_db
def test_healthz_answers_the_probe_whatever_host_it_names(client, settings):
    settings.ALLOWED_HOSTS = ["hmis.example.org"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert client.get("/healthz", HTTP_HOST="localhost:8000").status_code == 200
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
    # Every other page still refuses a host the portal does not serve.
    assert client.get("/accounts/login/", HTTP_HOST="localhost:8000").status_code == 400


@pytest.mark.django_db
def test_a_request_larger_than_the_limit_is_refused_before_it_is_read(client, settings):
    settings.REQUEST_MAX_BYTES = 1000
    response = client.generic("POST", "/accounts/login/", b"x" * 1001,
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert client.post("/accounts/login/", {"username": "a", "password": "b"}).status_code != 413


def test_the_web_probe_passes_against_a_healthy_portal_and_fails_against_nothing(live_server, settings):
    from urllib.parse import urlsplit

    from tests.faults import spare_port

    settings.CELERY_TASK_ALWAYS_EAGER = True
    env = {**{k: v for k, v in os.environ.items() if k in INHERITED}}
    port = str(urlsplit(live_server.url).port)
    ok = subprocess.run([sys.executable, "-m", "hmis_portal.probe", "web"], cwd=ROOT, env={**env, "PORT": port},
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    down = subprocess.run([sys.executable, "-m", "hmis_portal.probe", "web"], cwd=ROOT,
                          env={**env, "PORT": str(spare_port())}, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1


def test_the_beat_probe_reads_the_heartbeat_beat_writes(tmp_path):
    import time

    heartbeat = tmp_path / "beat"
    env = {**{k: v for k, v in os.environ.items() if k in INHERITED}, "BEAT_HEARTBEAT_FILE": str(heartbeat)}

    def probe():
        return subprocess.run([sys.executable, "-m", "hmis_portal.probe", "beat"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30).returncode

    assert probe() == 1  # beat never ticked
    heartbeat.write_text("")
    assert probe() == 0
    stale = time.time() - 3600
    os.utime(heartbeat, (stale, stale))
    assert probe() == 1
