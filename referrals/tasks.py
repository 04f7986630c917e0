from celery import shared_task
from django.template.defaultfilters import pluralize

from hmis_portal.core import calendar

from . import services


@shared_task(ignore_result=True)
def referral_timeliness_sweep(at: str | None = None) -> str:
    """Overdue alerts to providers, escalations to the CES team, and the
    policy's move of unanswered referrals (see services.sweep_timeliness)."""
    result = services.sweep_timeliness(now=calendar.as_of(at))
    overdue, escalated = result["overdue"], result["escalated"]
    return (f"{overdue} overdue alert{pluralize(overdue)}, {escalated} escalation{pluralize(escalated)}, "
            f"{result['moved']} moved for no response")
