"""Production refuses settings that would silently lose mail or links:
`manage.py check --deploy` errors on them (and the compose stack's one-shot
migrate runs that check first, so nothing starts)."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.checks import Error, run_checks
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.factories import UserFactory

ROOT = Path(django_settings.BASE_DIR)
INHERITED = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT"}

SMTP = "django.core.mail.backends.smtp.EmailBackend"


def guardrail_ids():
    return {message.id for message in run_checks(include_deployment_checks=True, tags=["portal"])
            if isinstance(message, Error)}


@pytest.fixture
def production(settings):
    """Settings a real deployment would have: every guardrail is quiet."""
    settings.DEBUG = False
    settings.EMAIL_BACKEND = SMTP
    settings.PORTAL_BASE_URL = "https://hmis.example.org"
    settings.ALLOWED_HOSTS = ["hmis.example.org"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/8"}}
    settings.WEB_CONCURRENCY = 3
    settings.REDIS_URL = "redis://127.0.0.1:6379/8"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/8"
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the settings' value; only these tests' tasks run eagerly
    return settings


def test_production_values_pass_every_guardrail(production):
    assert guardrail_ids() == set()


@pytest.mark.parametrize("backend", ["django.core.mail.backends.console.EmailBackend",
                                     "django.core.mail.backends.locmem.EmailBackend",
                                     "django.core.mail.backends.dummy.EmailBackend",
                                     "django.core.mail.backends.filebased.EmailBackend"])
def test_mail_that_never_leaves_the_machine_is_an_error(production, backend):
    production.EMAIL_BACKEND = backend
    assert "portal.E001" in guardrail_ids()


@pytest.mark.parametrize("url", ["http://localhost:8000", "http://hmis.example.org", "https://localhost",
                                 "https://127.0.0.1:8443", "https://portal.localhost", "https://[::1]", "",
                                 "hmis.example.org"])
def test_links_that_reach_nobody_are_an_error(production, url):
    production.PORTAL_BASE_URL = url
    assert "portal.E002" in guardrail_ids()


def test_links_to_a_host_the_portal_refuses_are_an_error(production):
    production.ALLOWED_HOSTS = ["portal.example.org"]
    assert "portal.E006" in guardrail_ids()
    production.ALLOWED_HOSTS = [".example.org"]
    assert "portal.E006" not in guardrail_ids()
    production.PORTAL_BASE_URL = "https://hmis.example.org:8443"
    assert "portal.E006" not in guardrail_ids()


def test_a_per_process_cache_with_several_web_workers_is_an_error(production):
    production.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "portal.E003" in guardrail_ids()
    production.WEB_CONCURRENCY = 1
    assert "portal.E003" not in guardrail_ids()


def test_a_broker_without_a_visibility_timeout_above_the_longest_task_is_an_error(production):
    production.CELERY_BROKER_TRANSPORT_OPTIONS = {
        k: v for k, v in django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.items() if k != "visibility_timeout"}
    assert "portal.E004" in guardrail_ids()
    production.CELERY_BROKER_TRANSPORT_OPTIONS = {**production.CELERY_BROKER_TRANSPORT_OPTIONS,
                                                  "visibility_timeout": django_settings.SWEEP_TIME_LIMIT}
    assert "portal.E004" in guardrail_ids()


def test_the_visibility_timeout_is_just_above_the_longest_hard_time_limit():
    from hmis_portal.celery import app

    app.loader.import_default_modules()
    longest = max(task.time_limit or app.conf.task_time_limit or 0
                  for name, task in app.tasks.items() if not name.startswith("celery."))
    for annotation in django_settings.CELERY_TASK_ANNOTATIONS.values():
        longest = max(longest, annotation.get("time_limit") or 0)
    timeout = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert longest < timeout <= longest + 120
    # A killed worker's chunk comes back within minutes, not Redis's hour.
    assert timeout < 3600 / 2


def test_a_proxy_limit_under_an_accepted_upload_is_an_error(production):
    production.REQUEST_MAX_BYTES = django_settings.LOGIN_REPORT_MAX_BYTES
    assert "portal.E005" in guardrail_ids()


def test_with_debug_on_nothing_is_refused(production):
    production.DEBUG = True
    production.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    production.PORTAL_BASE_URL = "http://localhost:8000"
    assert guardrail_ids() == set()


def _clean_env():
    return {k: v for k, v in os.environ.items() if k in INHERITED}


def _manage(*args, env):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**_clean_env(), **env},
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_names_each_unsafe_setting_of_a_bare_production_environment():
    result = _manage("check", "--deploy", env={
        "SECRET_KEY": "k3y-for-the-deploy-check-only-1f9a7c2e4b6d8a0c3e5f7a9b1d3f5a7c9e1b3d5",
        "ALLOWED_HOSTS": "hmis.example.org", "DEBUG": "false", "REDIS_URL": "redis://127.0.0.1:6379/8"})
    assert result.returncode != 0
    assert "portal.E001" in result.stderr and "portal.E002" in result.stderr


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    from accounts.models import User

    before = User.objects.count()
    with pytest.raises(CommandError, match="--i-know-this-is-not-production"):
        call_command("seed_demo", stdout=StringIO())
    assert User.objects.count() == before


def test_seed_demo_runs_without_debug_when_told_it_is_not_production(seeded_demo):
    # The demo the tests share is seeded with the flag and DEBUG off, as here.
    assert seeded_demo.debug is False
    assert "Demo logins" in seeded_demo.output


@pytest.mark.django_db
def test_password_reset_mail_takes_its_link_and_subject_from_the_portals_address(client, settings):
    settings.PORTAL_BASE_URL = "https://hmis.example.org"
    settings.ALLOWED_HOSTS = ["hmis.example.org", "localhost"]
    UserFactory(email="pat@example.org")
    client.post(reverse("password_reset"), {"email": "pat@example.org"}, HTTP_HOST="localhost:8180")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "localhost" not in message.subject and "localhost" not in message.body
    assert message.subject == f"Reset your {settings.PORTAL_NAME} password"
    assert "https://hmis.example.org/accounts/reset/" in message.body
