import os
import time

from celery import Celery, signals
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hmis_portal.settings")

app = Celery("hmis_portal")
# Every CELERY_* setting in settings.py configures the app; the broker and
# eager mode follow REDIS_URL there.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker binds the request id (and the rest of the log context) a task was
# queued with, so the task's log lines carry the id of the request that queued it.
app.steps["worker"].add(DjangoStructLogInitStep)


@signals.setup_logging.connect
def use_the_portals_logging(**kwargs):
    """The worker and beat log as the web processes do (settings.LOGGING),
    instead of Celery replacing the root logger's handlers with its own."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# --- how long each periodic job took, for /metrics ------------------------------------------------

_started: dict[str, float] = {}


def _job_names() -> dict[str, str]:
    from hmis_portal.schedule import JOBS

    return {job.task: job.name for job in JOBS}


# A chunk of a job that handed its work out carries the run's name
# (`sweep_run`); the run's duration is then its chunks' (core/metrics.py).
SWEEP_RUN = "sweep_run"


@signals.task_prerun.connect
def _job_started(task_id=None, task=None, kwargs=None, **extra):
    if task is not None and task.name in _job_names():
        _started[task_id] = time.monotonic()
    if kwargs and kwargs.get(SWEEP_RUN):
        from hmis_portal.core.metrics import chunk_started

        chunk_started(kwargs[SWEEP_RUN])


@signals.task_postrun.connect
def _job_finished(task_id=None, task=None, kwargs=None, **extra):
    from hmis_portal.core import metrics

    if kwargs and kwargs.get(SWEEP_RUN):
        metrics.chunk_finished(kwargs[SWEEP_RUN])
    started = _started.pop(task_id, None)
    if started is not None and not metrics.timed_by_chunks(task_id):
        metrics.record_sweep_run(_job_names()[task.name], seconds=time.monotonic() - started)
