"""Celery entry points for HMIS access: thin, each calls a service."""

from celery import shared_task
from django.template.defaultfilters import pluralize

from hmis_portal.core.calendar import as_of

from . import provisioning


@shared_task(ignore_result=True)
def sweep_provisioning_deadlines(at: str | None = None) -> str:
    """Hourly: flag requests due today, escalate overdue ones (each once per day)."""
    counts = provisioning.sweep_deadlines(moment=as_of(at))
    return f"{counts['due_today']} flagged due today, {counts['overdue']} escalated overdue"


@shared_task(ignore_result=True)
def hmis_inactivity_sweep(at: str | None = None) -> str:
    from .sweeps import run_inactivity_sweep

    return run_inactivity_sweep(at=as_of(at)).summary()


@shared_task(ignore_result=True)
def hmis_inactivity_reminders(at: str | None = None) -> str:
    from .sweeps import send_inactivity_reminders

    sent = send_inactivity_reminders(at=as_of(at))
    return f"{sent} reminder{pluralize(sent)} queued"


@shared_task(ignore_result=True)
def hmis_login_reminders(at: str | None = None) -> str:
    from .sweeps import send_login_reminders

    sent = send_login_reminders(at=as_of(at))
    return f"{sent} login reminder{pluralize(sent)} queued"
