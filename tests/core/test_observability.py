"""What operations staff read of a running portal: structured logs with a
request id (carried into the tasks a request queues), the error-reporting hook,
and the Prometheus endpoint with the portal's own figures."""

import datetime as dt
import json
import logging
import logging.config
import os
import re
import uuid

import pytest
import structlog
from celery.contrib.testing.worker import start_worker
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hmis_portal.celery import app
from hmis_portal.core import metrics, observability, outbox
from hmis_portal.core.models import Notification, ProvisioningCommand
from tests.core.test_worker import redis_broker  # noqa: F401 - the fixture


@pytest.fixture
def log_lines(capfd, settings):
    """Logging as production configures it, read back as lines of stderr."""

    def configure(*, json_lines=True):
        settings.LOGGING = observability.logging_config(json_lines=json_lines, level="INFO")
        observability.configure_structlog(json_lines=json_lines)
        logging.config.dictConfig(settings.LOGGING)
        capfd.readouterr()

    def read():
        return [line for line in capfd.readouterr().err.splitlines() if line.strip()]

    configure.read = read
    yield configure
    structlog.contextvars.clear_contextvars()
    from django.conf import settings as live

    observability.configure_structlog(json_lines=False)
    logging.config.dictConfig(live.LOGGING)


def records(lines):
    return [json.loads(line) for line in lines]


# --- logs ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_production_logs_are_json_lines_each_with_the_request_id(client, log_lines):
    log_lines(json_lines=True)
    request_id = "4f1c2a9e-1b2c-4d5e-8f90-0123456789ab"
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 404
    assert response["X-Request-ID"] == request_id
    lines = records(log_lines.read())
    assert lines, "nothing was logged for the request"
    assert {line["request_id"] for line in lines} == {request_id}
    assert [line["event"] for line in lines] == ["request_started", "request_finished"]
    assert lines[1]["code"] == 404 and lines[1]["level"] == "warning"


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["", "x" * 300, "id with spaces", "bad\u202eid", "<script>"])
def test_a_missing_or_malformed_request_id_is_replaced_by_a_new_one(client, log_lines, given):
    log_lines(json_lines=True)
    headers = {"HTTP_X_REQUEST_ID": given} if given else {}
    response = client.get("/no-such-page/", **headers)
    made = response["X-Request-ID"]
    assert made != given
    assert uuid.UUID(made)
    assert {line["request_id"] for line in records(log_lines.read())} == {made}


def test_stdlib_loggers_keep_working_in_both_shapes(log_lines):
    log_lines(json_lines=True)
    logging.getLogger("hmis_portal.core.outbox").warning("Broker down; %s messages wait", 3)
    [line] = records(log_lines.read())
    assert line["event"] == "Broker down; 3 messages wait"
    assert line["level"] == "warning"
    assert line["logger"] == "hmis_portal.core.outbox"
    assert "timestamp" in line

    log_lines(json_lines=False)
    logging.getLogger("hmis_portal.core.outbox").warning("Broker down; %s messages wait", 3)
    [text] = log_lines.read()
    assert "Broker down; 3 messages wait" in text
    assert not text.lstrip().startswith("{")


def test_the_settings_log_json_without_debug_and_readable_lines_with_it():
    production = observability.logging_config(json_lines=True, level="INFO")
    development = observability.logging_config(json_lines=False, level="INFO")
    assert production["formatters"]["portal"]["processors"][-1].__class__ is structlog.processors.JSONRenderer
    assert development["formatters"]["portal"]["processors"][-1].__class__ is structlog.dev.ConsoleRenderer


# --- a database outage -----------------------------------------------------------------------------


def outage_error():
    """The error a request meets when PostgreSQL is down: a real connection
    attempt to a port where nothing listens."""
    from django.db import connections
    from django.db.utils import OperationalError

    settings_dict = {**connections["default"].settings_dict, "HOST": "127.0.0.1", "PORT": "1", "NAME": "none",
                     "OPTIONS": {"connect_timeout": 1}}
    backend = connections["default"].__class__(settings_dict, alias="outage")
    try:
        backend.ensure_connection()
    except OperationalError as exc:
        return exc
    finally:
        backend.close()
    raise AssertionError("a connection to port 1 succeeded")


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the outage is PostgreSQL's")
def test_a_database_outage_logs_one_line_per_failure_kind_not_a_traceback_per_request(log_lines):
    error = outage_error()
    log_lines(json_lines=True)
    request_log = logging.getLogger("django.request")
    for n in range(50):
        structlog.contextvars.bind_contextvars(request_id=f"req-{n}")
        try:
            raise error
        except Exception:
            request_log.error("Internal Server Error: /", exc_info=True)
            structlog.get_logger("django_structlog.middlewares.request").exception("request_failed")
    lines = log_lines.read()
    # One line for the kind, naming the error, with no traceback. The request
    # logger's own line is dropped: the 503 answer (core.outage) logs the outage.
    assert len(lines) == 1, lines
    assert not any("Traceback" in line for line in lines)
    assert [(line["logger"], line["request_id"]) for line in records(lines)] == [("django.request", "req-0")]
    for line in records(lines):
        assert "OperationalError" in line["error"]
        assert "exception" not in line


def test_other_errors_keep_their_traceback(log_lines):
    log_lines(json_lines=True)
    try:
        raise ValueError("a bug")
    except ValueError:
        logging.getLogger("django.request").error("Internal Server Error: /", exc_info=True)
    [line] = records(log_lines.read())
    assert "Traceback" in line["exception"]


# --- a request's id in the tasks it queues ---------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_a_request_queues_logs_with_the_requests_id(redis_broker, log_lines):
    import time

    log_lines(json_lines=True)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        # What the request middleware binds for the length of a request.
        structlog.contextvars.bind_contextvars(request_id="7d0c6f5e-0000-4000-8000-000000000001")
        with transaction.atomic():
            [message] = outbox.notify(recipients=["agency@example.org"], subject="Setup complete", body="Confirm.")
        structlog.contextvars.clear_contextvars()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not Notification.objects.filter(
                pk=message.pk, status=Notification.Status.SENT).exists():
            time.sleep(0.1)
    task_lines = [line for line in records(l for l in log_lines.read() if l.startswith("{")) if "task_id" in line]
    assert any(line["event"] == "task_succeeded" for line in task_lines), task_lines
    assert {line.get("request_id") for line in task_lines} == {"7d0c6f5e-0000-4000-8000-000000000001"}


# --- error reporting -------------------------------------------------------------------------------


def test_error_reporting_is_off_without_a_dsn():
    import sentry_sdk

    assert observability.init_error_reporting(dsn="") is False
    assert not sentry_sdk.get_client().is_active()


def test_error_reporting_starts_with_a_dsn_and_sends_no_personal_data():
    import sentry_sdk

    try:
        # Nothing listens on port 1: no event leaves the machine.
        assert observability.init_error_reporting(dsn="http://public@127.0.0.1:1/1", environment="test") is True
        client = sentry_sdk.get_client()
        assert client.is_active()
        assert client.options["send_default_pii"] is False
        event = {"message": "Invitation to jo.doe@example.org failed",
                 "extra": {"to": ["jo.doe@example.org"], "n": 3},
                 "logentry": {"message": "mail to %s", "params": ["a.b@example.org"]}}
        scrubbed = client.options["before_send"](event, {})
        assert "example.org" not in json.dumps(scrubbed)
        assert scrubbed["extra"]["n"] == 3
    finally:
        sentry_sdk.get_client().close(timeout=0)
        sentry_sdk.init()
    assert sentry_sdk.get_client().options["dsn"] is None


def test_settings_read_the_dsn_from_the_environment():
    from django.conf import settings

    assert settings.SENTRY_DSN == os.environ.get("SENTRY_DSN", "")


# --- metrics ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_answer_loopback_scrapes(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"hmis_portal_outbox_pending" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [
    {"REMOTE_ADDR": "203.0.113.9"},
    # Through the proxy on the same machine: the connection is local, the client is not.
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
    {"REMOTE_ADDR": "203.0.113.9", "HTTP_AUTHORIZATION": "Bearer wrong"},
])
def test_metrics_are_not_public(client, settings, headers):
    settings.METRICS_TOKEN = "s3cret-token-for-scrapes"
    response = client.get("/metrics", **headers)
    assert response.status_code == 403
    assert b"hmis_portal" not in response.content


@pytest.mark.django_db
def test_metrics_answer_a_scrape_with_the_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-token-for-scrapes"
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token-for-scrapes")
    assert response.status_code == 200


@pytest.mark.django_db
def test_no_token_configured_means_loopback_only(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def sample(text: str, name: str, **labels) -> float:
    label_text = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}{re.escape('{' + label_text + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name} {labels} not in\n{text}"
    return float(found.group(1))


@pytest.mark.django_db
def test_the_portals_figures_are_computed_at_scrape_time(client, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    Notification.objects.create(to_email="a@example.org", subject="s", body="b",
                                created_at=now - dt.timedelta(minutes=30))
    Notification.objects.create(to_email="b@example.org", subject="s", body="b", created_at=now)
    Notification.objects.create(to_email="c@example.org", subject="s", body="b", status=Notification.Status.SENT,
                                created_at=now - dt.timedelta(days=3))
    ProvisioningCommand.objects.create(subject="1", kind="create", created_at=now - dt.timedelta(minutes=10))
    ProvisioningCommand.objects.create(subject="2", kind="create", status=ProvisioningCommand.Status.FAILED,
                                       created_at=now - dt.timedelta(hours=2))
    metrics.record_sweep_run("referral-timeliness", seconds=1.25)

    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert sample(text, "hmis_portal_outbox_pending") == 2
    assert sample(text, "hmis_portal_outbox_oldest_pending_age_seconds") == pytest.approx(1800, abs=1)
    assert sample(text, "hmis_portal_provisioning_commands", status="pending") == 1
    assert sample(text, "hmis_portal_provisioning_commands", status="failed") == 1
    assert sample(text, "hmis_portal_provisioning_commands_oldest_age_seconds", status="pending") == \
        pytest.approx(600, abs=1)
    assert sample(text, "hmis_portal_provisioning_commands_oldest_age_seconds", status="failed") == \
        pytest.approx(7200, abs=1)
    assert sample(text, "hmis_portal_sweep_last_duration_seconds", job="referral-timeliness") == 1.25
    assert "hmis_portal_provisioning_overdue" in text
    assert sample(text, "hmis_portal_webhook_deliveries_pending") == 0
    assert sample(text, "hmis_portal_webhook_oldest_pending_age_seconds") == 0


@pytest.mark.django_db
def test_webhook_deliveries_waiting_and_paused_subscriptions_are_counted(client, time_machine):
    from hmis_portal.core.models import WebhookDelivery, WebhookSubscription

    now = timezone.now()
    time_machine.move_to(now, tick=False)
    live = WebhookSubscription.objects.create(url="https://hooks.example.org/a", event_types=" x ", secret="s")
    paused = WebhookSubscription.objects.create(url="https://hooks.example.org/b", event_types=" x ", secret="s",
                                                status=WebhookSubscription.Status.PAUSED)
    for subscription, status, minutes in ((live, "pending", 45), (paused, "pending", 5), (live, "delivered", 600)):
        WebhookDelivery.objects.create(subscription=subscription, event_id=f"msg_{subscription.pk}_{minutes}",
                                       event_type="x", subject="s", payload={}, status=status,
                                       created_at=now - dt.timedelta(minutes=minutes))
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert sample(text, "hmis_portal_webhook_deliveries_pending") == 2
    assert sample(text, "hmis_portal_webhook_oldest_pending_age_seconds") == pytest.approx(2700, abs=1)
    assert sample(text, "hmis_portal_webhook_subscriptions_paused") == 1


@pytest.mark.django_db
def test_overdue_provisioning_requests_are_counted(client, time_machine):
    from hmis_access.models import AccessRequest
    from tests.factories import OrganizationFactory, UserFactory

    now = timezone.now()
    time_machine.move_to(now, tick=False)
    organization = OrganizationFactory()
    for ready, due in [(now - dt.timedelta(days=10), now - dt.timedelta(days=1)),
                       (now, now + dt.timedelta(days=2))]:
        AccessRequest.objects.create(organization=organization, user=UserFactory(), status=AccessRequest.Status.READY,
                                     ready_at=ready, provisioning_due_at=due)
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert sample(text, "hmis_portal_provisioning_overdue", kind="access request") == 1


@pytest.mark.django_db
def test_a_scrape_costs_the_same_few_queries_whatever_the_backlog(client):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
        return len(queries)

    few = count()
    for n in range(20):
        Notification.objects.create(to_email=f"p{n}@example.org", subject="s", body="b")
        ProvisioningCommand.objects.create(subject=str(n), kind="create")
    assert count() == few
    assert few <= 5


def test_core_figures_come_first_and_later_apps_register_theirs():
    from hmis_portal.core import registry

    assert "hmis_access" in registry.metric_figures.apps()


@pytest.mark.django_db
def test_run_sweeps_records_each_jobs_duration(client):
    from django.core.management import call_command

    call_command("run_sweeps", only=["intake-entry-deadlines"], stdout=open(os.devnull, "w"))
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert sample(text, "hmis_portal_sweep_last_duration_seconds", job="intake-entry-deadlines") >= 0


# --- logging never reads the database --------------------------------------------------------------


def test_logging_a_request_never_loads_its_user():
    """During a database outage, looking up who made a failing request would
    fail again inside the error handling; the id is logged only when the
    request already loaded the user."""
    from django.conf import settings
    from django.test import RequestFactory
    from django.utils.functional import SimpleLazyObject

    assert settings.DJANGO_STRUCTLOG_USER_ID_FIELD is None

    def unreachable():
        raise AssertionError("the user was loaded for a log line")

    request = RequestFactory().get("/")
    request.user = SimpleLazyObject(unreachable)
    assert observability.loaded_user_id(request) is None

    class Someone:
        pk = 42

    request.user = SimpleLazyObject(Someone)
    assert request.user.pk == 42  # the request itself loaded it
    assert observability.loaded_user_id(request) == 42


@pytest.mark.django_db
def test_a_signed_in_persons_requests_log_their_id(client, log_lines):
    from tests.factories import UserFactory

    user = UserFactory()
    client.force_login(user)
    log_lines(json_lines=True)
    client.get("/no-such-page/")
    [finished] = [line for line in records(log_lines.read()) if line["event"] == "request_finished"]
    assert finished["user_id"] == user.pk


@pytest.mark.django_db
def test_a_periodic_job_run_by_celery_records_its_duration(client):
    from hmis_portal.core.tasks import deliver_notification, deliver_pending_notifications

    deliver_pending_notifications.apply()
    # A task that is not a periodic job records nothing.
    deliver_notification.apply(args=(0,))
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert sample(text, "hmis_portal_sweep_last_duration_seconds", job="deliver-notifications") >= 0
    assert text.count("hmis_portal_sweep_last_duration_seconds{") == 1
