"""Celery entry points for HMIS access: thin, each calls a service."""

from celery import shared_task

from hmis_portal.core.calendar import as_of

from . import provisioning


@shared_task(ignore_result=True)
def sweep_provisioning_deadlines(at: str | None = None) -> str:
    """Hourly: flag requests due today, escalate overdue ones (each once per day)."""
    counts = provisioning.sweep_deadlines(moment=as_of(at))
    return f"{counts['due_today']} flagged due today, {counts['overdue']} escalated overdue"
