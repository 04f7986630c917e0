"""The Prometheus endpoint, /metrics: django-prometheus's request figures and
the portal's own, as gauges computed when Prometheus scrapes.

The portal's figures say whether the work behind the pages is keeping up:
the outbox's backlog and the age of its oldest pending message, the HMIS
provisioning commands pending or failed and their oldest, the webhook
deliveries waiting and the subscriptions paused, how long each
periodic job took last time it ran, and, from the later stages through
`registry.metric_figures`, their own (overdue provisioning requests). Each
provider runs a fixed number of queries, whatever the size of the tables.

The endpoint is not public: it answers a scrape from the machine itself (a
loopback connection that no proxy forwarded) or one carrying
`Authorization: Bearer <METRICS_TOKEN>`; anything else is a 403. Like
/healthz, it answers before the host check, since Prometheus scrapes an
address, not one of the portal's host names.
"""

import datetime as dt
import hmac
import ipaddress
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.http import HttpResponse
from django.utils import timezone

from . import registry

PREFIX = "hmis_portal_"


@dataclass(frozen=True)
class Figure:
    """One gauge sample: `name` without the prefix, its help text, value and labels."""

    name: str
    help: str
    value: float
    labels: dict = field(default_factory=dict)


# --- what the core knows ---------------------------------------------------------------------------


def _age(now, moment) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment else 0.0


def outbox_figures(now) -> list[Figure]:
    """One query: messages not yet sent and the oldest of them."""
    from .models import Notification

    waiting = Q(status__in=[Notification.Status.PENDING, Notification.Status.SENDING])
    row = Notification.objects.aggregate(
        pending=Count("pk", filter=waiting),
        failed=Count("pk", filter=Q(status=Notification.Status.FAILED)),
        oldest=Min("created_at", filter=waiting),
    )
    return [
        Figure("outbox_pending", "Messages in the outbox not yet sent (pending or being sent).", row["pending"]),
        Figure("outbox_failed", "Messages the outbox gave up on (shown to staff for Retry).", row["failed"]),
        Figure("outbox_oldest_pending_age_seconds", "Age of the oldest message not yet sent; 0 when none.",
               _age(now, row["oldest"])),
    ]


def provisioning_command_figures(now) -> list[Figure]:
    """One query: HMIS provisioning commands pending and failed, and the oldest of each."""
    from .models import ProvisioningCommand

    Status = ProvisioningCommand.Status
    waiting = Q(status__in=[Status.PENDING, Status.SENDING])
    failed = Q(status=Status.FAILED)
    row = ProvisioningCommand.objects.aggregate(
        pending=Count("pk", filter=waiting), failed=Count("pk", filter=failed),
        oldest_pending=Min("created_at", filter=waiting), oldest_failed=Min("created_at", filter=failed),
    )
    figures = []
    for status in ("pending", "failed"):
        figures.append(Figure("provisioning_commands", "HMIS provisioning commands by status (pending includes "
                              "those being sent).", row[status], {"status": status}))
        figures.append(Figure("provisioning_commands_oldest_age_seconds", "Age of the oldest HMIS provisioning "
                              "command in that status; 0 when none.", _age(now, row[f"oldest_{status}"]),
                              {"status": status}))
    return figures


def webhook_figures(now) -> list[Figure]:
    """One query: webhook deliveries not yet made and the oldest of them, and
    the subscriptions paused (after repeated failure, or by a system admin),
    whose events wait until someone resumes them."""
    from django.db import connection

    from .models import WebhookDelivery, WebhookSubscription

    Status = WebhookDelivery.Status
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MIN(created_at), (SELECT COUNT(*) FROM {WebhookSubscription._meta.db_table} "
            f"WHERE status = %s) FROM {WebhookDelivery._meta.db_table} WHERE status IN (%s, %s)",
            [WebhookSubscription.Status.PAUSED, Status.PENDING, Status.SENDING])
        pending, oldest, paused = cursor.fetchone()
    if isinstance(oldest, str):  # SQLite hands back the UTC moment as text
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and timezone.is_naive(oldest):
        oldest = oldest.replace(tzinfo=dt.UTC)
    return [
        Figure("webhook_deliveries_pending", "Webhook deliveries not yet made (pending or being sent).", pending),
        Figure("webhook_oldest_pending_age_seconds", "Age of the oldest webhook delivery not yet made; 0 when "
               "none.", _age(now, oldest)),
        Figure("webhook_subscriptions_paused", "Webhook subscriptions paused: their events wait until resumed.",
               paused),
    ]


# --- periodic jobs' durations ----------------------------------------------------------------------

SWEEP_KEY = "metrics:sweep:"


def record_sweep_run(job: str, *, seconds: float, finished_at=None) -> None:
    """How long a periodic job's run took, kept in the shared cache (one write
    at the end of a run) for the next scrape, whichever process serves it."""
    finished_at = finished_at or timezone.now()
    try:
        cache.set(f"{SWEEP_KEY}{job}", {"seconds": float(seconds), "finished_at": finished_at.timestamp()},
                  timeout=None)
    except Exception:  # noqa: BLE001 - a figure must never fail the job it measures
        pass


# A job that hands its work out as chunks to free workers (the inactivity and
# timeliness sweeps) is not done when its own task ends, and its chunks run in
# other processes: the run's duration is from the first chunk's start to the
# last chunk's end, kept in the shared cache as the chunks count down.
RUN_KEY = "metrics:sweep-run:"
RUN_KEPT_SECONDS = 24 * 3600
_timed_by_chunks: set[str] = set()


def _job_of_task(task_name: str) -> str | None:
    from hmis_portal.schedule import JOBS

    return next((job.name for job in JOBS if job.task == task_name), None)


def hand_out_chunks(*, task_name: str, task_id: str | None, chunks: int) -> str | None:
    """Called by a periodic job's task before it queues `chunks` chunks: the
    run's name, for each chunk to pass to `chunk_started`/`chunk_finished`
    (None when the job is not a scheduled one or the cache is out of reach).
    The task's own duration is then not recorded (`timed_by_chunks`)."""
    job = _job_of_task(task_name)
    if job is None or chunks < 1:
        return None
    run = f"{job}|{task_id or uuid.uuid4().hex}"
    try:
        cache.set(f"{RUN_KEY}{run}:left", chunks, timeout=RUN_KEPT_SECONDS)
    except Exception:  # noqa: BLE001 - a figure must never fail the job it measures
        return None
    if task_id:
        _timed_by_chunks.add(task_id)
    return run


def timed_by_chunks(task_id: str | None) -> bool:
    """Whether this task handed its work out as chunks (asked once, at its end)."""
    if task_id in _timed_by_chunks:
        _timed_by_chunks.discard(task_id)
        return True
    return False


def chunk_started(run: str | None) -> None:
    if run:
        try:  # the first chunk to start sets it; add() never overwrites
            cache.add(f"{RUN_KEY}{run}:started", time.time(), timeout=RUN_KEPT_SECONDS)
        except Exception:  # noqa: BLE001 - a figure must never fail the job it measures
            pass


def chunk_finished(run: str | None) -> None:
    """The last chunk of the run to finish records the run's duration."""
    if not run:
        return
    try:
        if cache.decr(f"{RUN_KEY}{run}:left") != 0:
            return
        started = cache.get(f"{RUN_KEY}{run}:started")
        cache.delete_many([f"{RUN_KEY}{run}:left", f"{RUN_KEY}{run}:started"])
    except Exception:  # noqa: BLE001 - the count expired or the cache is out: no figure this time
        return
    if started is not None:
        record_sweep_run(run.split("|", 1)[0], seconds=time.time() - started)


def sweep_figures(now) -> list[Figure]:
    """One cache read for every job in the schedule."""
    from hmis_portal.schedule import JOBS

    try:
        runs = cache.get_many([f"{SWEEP_KEY}{job.name}" for job in JOBS])
    except Exception:  # noqa: BLE001 - a cache outage leaves these figures out, not the scrape
        return []
    figures = []
    for job in JOBS:
        run = runs.get(f"{SWEEP_KEY}{job.name}")
        if not run:
            continue
        figures.append(Figure("sweep_last_duration_seconds", "How long the periodic job's last run took.",
                              run["seconds"], {"job": job.name}))
        figures.append(Figure("sweep_last_finished_timestamp_seconds", "When the periodic job last finished "
                              "(Unix time).", run["finished_at"], {"job": job.name}))
    return figures


def register() -> None:
    """The core's own figures, first (from CoreConfig.ready())."""
    registry.metric_figures.add(outbox_figures, app="hmis_portal.core")
    registry.metric_figures.add(provisioning_command_figures, app="hmis_portal.core")
    registry.metric_figures.add(webhook_figures, app="hmis_portal.core")
    registry.metric_figures.add(sweep_figures, app="hmis_portal.core")


# --- exposition ------------------------------------------------------------------------------------


def _label_text(labels: dict) -> str:
    if not labels:
        return ""

    def escaped(value) -> str:
        return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{key}="{escaped(value)}"' for key, value in sorted(labels.items())) + "}"


def exposition(figures: Iterable[Figure]) -> str:
    """Prometheus's text format: samples of one name together, each name's HELP and TYPE once."""
    by_name: dict[str, list[Figure]] = {}
    for figure in figures:
        by_name.setdefault(figure.name, []).append(figure)
    lines = []
    for name, samples in by_name.items():
        full = PREFIX + name
        lines.append(f"# HELP {full} {samples[0].help}")
        lines.append(f"# TYPE {full} gauge")
        lines.extend(f"{full}{_label_text(s.labels)} {float(s.value)!r}" for s in samples)
    return "\n".join(lines) + "\n"


def portal_figures(now=None) -> list[Figure]:
    now = now or timezone.now()
    return [figure for provider in registry.metric_figures for figure in provider(now)]


# --- who may scrape --------------------------------------------------------------------------------


def _from_loopback(request) -> bool:
    if any(header in request.META for header in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")):
        # Forwarded by a proxy: the connection is local, the client is not.
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _has_token(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def may_scrape(request) -> bool:
    return _has_token(request) or _from_loopback(request)


def _request_figures_registry():
    """This process's request figures, or, under gunicorn with
    PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py), every worker process's
    added up: the one that answers the scrape is any one of them."""
    import os

    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def metrics_response(request) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not may_scrape(request):
        return HttpResponse("Metrics are read from the server itself or with its token.\n", status=403,
                            content_type="text/plain; charset=utf-8")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    body = generate_latest(_request_figures_registry()) + exposition(portal_figures()).encode()
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


class MetricsMiddleware:
    """Answers /metrics before the host check and every page's middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/metrics":
            return metrics_response(request)
        return self.get_response(request)
