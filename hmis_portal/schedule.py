"""Every periodic job, declared in one place.

Each job is a Celery task that takes an optional `at` (an ISO datetime: the
moment the job acts as of; now when omitted), does a bounded, idempotent pass,
and returns a one-line summary. Celery beat runs them from the database
schedule, where `sync_beat_schedule` (after every migrate) adds each job that
has no entry yet; from then on the entry is CoC staff's to retime or disable in
the admin. `manage.py run_sweeps [--at …]` runs them all once, in this order.
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
        name="deliver-hmis-provisioning",
        task="hmis_portal.core.tasks.deliver_provisioning",
        minute="*/5",
        description="Send provisioning commands to the HMIS that are still pending (HMIS or broker was down).",
    ),
    Job(
        name="deliver-webhooks",
        task="hmis_portal.core.tasks.deliver_webhooks",
        minute="*",
        description="Send webhooks still pending (a receiver or the broker was down; retries after backoff).",
    ),
    Job(
        name="hmis-reconciliation",
        task="hmis_accounts.tasks.hmis_reconciliation",
        minute="40",
        hour="2",
        description="Compare the HMIS's users with the portal's HMIS accounts and report drift.",
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
    # Seed 003: data partners enter intakes within the policy's business days.
    Job(
        name="intake-entry-deadlines",
        task="partnerships.tasks.intake_entry_sweep",
        minute="20",
        hour="7",
        description="Flag intake batches a data partner has not entered into HMIS by their deadline; escalate to "
                    "CoC staff after the data partnership policy's margin.",
    ),
    # Seed 002: shortly after midnight in the CoC's time zone, so "no login by
    # the end of the day" is judged on a finished day.
    Job(
        name="hmis-inactivity-sweep",
        task="hmis_accounts.tasks.hmis_inactivity_sweep",
        minute="5",
        hour="0",
        description="HMIS accounts: Inactive after the access policy's days without login, or no login within its "
                    "hours after reactivation; retraining after its retraining days.",
    ),
    Job(
        name="hmis-inactivity-reminders",
        task="hmis_accounts.tasks.hmis_inactivity_reminders",
        minute="0",
        hour="7",
        description="Remind users on the access policy's days before their HMIS account goes Inactive.",
    ),
    Job(
        name="hmis-login-reminders",
        task="hmis_accounts.tasks.hmis_login_reminders",
        minute="5",
        hour="7",
        description="Login reminders on the access policy's days of the month for users who opted in.",
    ),
    # Hourly, so that a deadline in hours (seed 004) is escalated within the
    # hour it is missed; each request is still flagged and escalated at most
    # once a day.
    Job(
        name="provisioning-deadlines",
        task="hmis_access.tasks.sweep_provisioning_deadlines",
        minute="0",
        description="Flag HMIS access and reactivation requests due today; escalate overdue ones to provisioning "
                    "and system admins (each at most once a day).",
    ),
]


def _known_tasks() -> set[str]:
    from hmis_portal.celery import app

    # Import every app's tasks module, as a worker does, so that the registry
    # holds every task a beat entry can name.
    app.loader.import_default_modules()
    return set(app.tasks)


def _moved_to(task: str, declared: str | None, known: set[str]) -> str | None:
    """Where a task that no longer exists went: the task declared for the
    entry's job, or else the one known task of the same name in another app
    (`hmis_access.tasks.hmis_inactivity_sweep` → `hmis_accounts.tasks.hmis_inactivity_sweep`)."""
    if declared in known:
        return declared
    same_name = [name for name in known if name.rsplit(".", 1)[-1] == task.rsplit(".", 1)[-1]]
    return same_name[0] if len(same_name) == 1 else None


def sync_beat_schedule(*, verbosity: int = 1, stdout=None, using: str = "default", **kwargs) -> list[str]:
    """Give every job in JOBS a django-celery-beat entry, after every migrate.

    An entry that exists is never overwritten: CoC staff retime and disable
    jobs in the admin, and a deploy must not undo that. Only an entry naming a
    task that no longer exists (its code moved to another app) gets the task's
    new path, keeping its schedule. Entries the code does not declare (a job
    renamed or retired in code) are reported for staff to retire, not changed.
    Returns the report, one line per thing done or to look at."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    report = []
    entries = {entry.name: entry for entry in PeriodicTask.objects.using(using).all()}
    for job in JOBS:
        if job.name in entries:
            continue
        schedule, _ = CrontabSchedule.objects.using(using).get_or_create(
            minute=job.minute,
            hour=job.hour,
            day_of_month=job.day_of_month,
            month_of_year="*",
            day_of_week="*",
            timezone=settings.CELERY_TIMEZONE,
        )
        # save() (not a bulk write) so a running beat sees the change.
        PeriodicTask(name=job.name, task=job.task, crontab=schedule, description=job.description).save(using=using)
        report.append(f"{job.name}: added ({job.task})")

    declared = {job.name: job.task for job in JOBS}
    known = _known_tasks()
    for name, entry in sorted(entries.items()):
        if name.startswith("celery."):  # Celery's own housekeeping entries
            continue
        if entry.task not in known:
            new_task = _moved_to(entry.task, declared.get(name), known)
            if new_task is None:
                report.append(f"{name}: runs {entry.task}, which does not exist; fix or delete it in the admin")
                continue
            report.append(f"{name}: task moved, {entry.task} → {new_task}")
            entry.task = new_task
            entry.save(update_fields=["task"], using=using)
        if name not in declared:
            report.append(f"{name}: not declared in hmis_portal/schedule.py (renamed or retired?); "
                          f"{'enabled' if entry.enabled else 'disabled'}, left as it is")
        elif entry.task != declared[name]:
            report.append(f"{name}: runs {entry.task}, the code declares {declared[name]}; left as it is")

    if stdout is not None and verbosity >= 1 and report:
        stdout.write("Beat schedule:")
        for line in report:
            stdout.write(f"  {line}")
    return report
