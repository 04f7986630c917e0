from celery import shared_task
from django.template.defaultfilters import pluralize

from hmis_portal.core import calendar

from . import services


@shared_task(ignore_result=True)
def intake_entry_sweep(at: str | None = None) -> str:
    """Daily: overdue intake batches flagged to the HMIS data partner, escalated to CoC staff."""
    result = services.sweep_entry_deadlines(now=calendar.as_of(at))
    flagged, escalated = result["flagged"], result["escalated"]
    return (f"{flagged} overdue intake batch{'es' if flagged != 1 else ''} flagged, "
            f"{escalated} escalation{pluralize(escalated)}")
