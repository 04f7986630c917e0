"""Every periodic job, declared in one place.

Each job is a Celery task that takes an optional `at` (an ISO datetime: the
moment the job acts as of; now when omitted), does a bounded, idempotent pass,
and returns a one-line summary. Celery beat runs them from the database
schedule that `sync_beat_schedule` keeps equal to this list (after every
migrate); `manage.py run_sweeps [--at …]` runs them all once, in this order.
Times are in the CoC's time zone (settings.CELERY_TIMEZONE).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    name: str
    task: str
    # crontab fields, as django-celery-beat's CrontabSchedule takes them
    minute: str = "*"
    hour: str = "*"
    day_of_month: str = "*"
    description: str = ""


JOBS = [
    Job(
        name="deliver-notifications",
        task="hmis_portal.core.tasks.deliver_pending_notifications",
        minute="*/5",
        description="Send outbox messages that are still pending (broker was down, or sending failed).",
    ),
    Job(
        name="agreement-expiry-and-renewal",
        task="onboarding.tasks.agreement_expiry_and_renewal",
        minute="15",
        hour="6",
        description="Expire Organization Agreements past their term; remind agencies before theirs ends.",
    ),
    Job(
        name="referral-timeliness",
        task="referrals.tasks.referral_timeliness_sweep",
        minute="*/15",
        description="Alert providers of overdue CES referrals, escalate to the CES team, move unanswered ones.",
    ),
    # Seed 002: shortly after midnight in the CoC's time zone, so "no login by
    # the end of the day" is judged on a finished day.
    Job(
        name="hmis-inactivity-sweep",
        task="hmis_access.tasks.hmis_inactivity_sweep",
        minute="5",
        hour="0",
        description="HMIS accounts: Inactive after 30 days without login or no login on the day of reactivation; "
                    "retraining after 90 days.",
    ),
    Job(
        name="hmis-inactivity-reminders",
        task="hmis_access.tasks.hmis_inactivity_reminders",
        minute="0",
        hour="7",
        description="Remind users 7 and 1 days (policy) before their HMIS account goes Inactive.",
    ),
    Job(
        name="hmis-login-reminders",
        task="hmis_access.tasks.hmis_login_reminders",
        minute="5",
        hour="7",
        description="Login reminders on the 1st and 15th (policy) for users who opted in (seed 002).",
    ),
    Job(
        name="provisioning-deadlines",
        task="hmis_access.tasks.sweep_provisioning_deadlines",
        minute="0",
        hour="7",
        description="Flag HMIS access and reactivation requests due today; escalate overdue ones to provisioning "
                    "and system admins.",
    ),
]


def sync_beat_schedule(**kwargs):
    """Make django-celery-beat's PeriodicTask rows match JOBS: create or update
    each job, and disable rows for jobs that are no longer declared."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    names = set()
    for job in JOBS:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=job.minute,
            hour=job.hour,
            day_of_month=job.day_of_month,
            month_of_year="*",
            day_of_week="*",
            timezone=settings.CELERY_TIMEZONE,
        )
        PeriodicTask.objects.update_or_create(
            name=job.name,
            defaults={"task": job.task, "crontab": schedule, "interval": None, "enabled": True,
                      "description": job.description},
        )
        names.add(job.name)
    PeriodicTask.objects.exclude(name__in=names).exclude(name__startswith="celery.").update(enabled=False)
