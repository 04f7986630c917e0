"""The beat schedule after a migrate: what the code declares is created, what
CoC staff changed in the admin stays as they left it, and entries whose task
moved to another app follow it."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from hmis_portal import schedule
from hmis_portal.schedule import JOBS, Job, sync_beat_schedule

pytestmark = pytest.mark.django_db

JOB = {job.name: job for job in JOBS}


def crontab_of(name: str) -> tuple:
    c = PeriodicTask.objects.get(name=name).crontab
    return c.minute, c.hour, c.day_of_month, str(c.timezone)


def migrate() -> str:
    out = StringIO()
    call_command("migrate", verbosity=1, stdout=out, interactive=False)
    return out.getvalue()


def test_a_migrate_creates_every_declared_job(settings):
    # The test database was migrated: the schedule is there as declared.
    for job in JOBS:
        entry = PeriodicTask.objects.get(name=job.name)
        assert (entry.task, entry.enabled, entry.description) == (job.task, True, job.description)
        assert crontab_of(job.name) == (job.minute, job.hour, job.day_of_month, settings.CELERY_TIMEZONE)


def test_staff_changes_survive_a_migrate(settings):
    later = CrontabSchedule.objects.create(minute="30", hour="5", timezone=settings.CELERY_TIMEZONE)
    entry = PeriodicTask.objects.get(name="referral-timeliness")
    entry.crontab = later
    entry.description = "Every morning at 5:30 during the pilot."
    entry.save()
    off = PeriodicTask.objects.get(name="hmis-login-reminders")
    off.enabled = False
    off.save()

    migrate()
    sync_beat_schedule()

    assert crontab_of("referral-timeliness") == ("30", "5", "*", settings.CELERY_TIMEZONE)
    assert PeriodicTask.objects.get(name="referral-timeliness").description == "Every morning at 5:30 during the pilot."
    assert not PeriodicTask.objects.get(name="hmis-login-reminders").enabled
    assert PeriodicTask.objects.filter(enabled=True).count() == len(JOBS) - 1


def test_a_deleted_entry_comes_back_as_declared(settings):
    PeriodicTask.objects.filter(name="agreement-expiry-and-renewal").delete()
    migrate()
    job = JOB["agreement-expiry-and-renewal"]
    entry = PeriodicTask.objects.get(name=job.name)
    assert (entry.task, entry.enabled) == (job.task, True)
    assert crontab_of(job.name) == (job.minute, job.hour, job.day_of_month, settings.CELERY_TIMEZONE)


def test_a_job_renamed_in_code_gets_its_entry_and_the_old_one_is_reported(monkeypatch):
    old = JOB["referral-timeliness"]
    renamed = Job(name="ces-referral-timeliness", task=old.task, minute=old.minute, description=old.description)
    monkeypatch.setattr(schedule, "JOBS", [renamed if job is old else job for job in JOBS])

    report = sync_beat_schedule()

    assert PeriodicTask.objects.get(name="ces-referral-timeliness").task == old.task
    # The old entry is the admin's to retire: reported, not touched.
    assert PeriodicTask.objects.get(name="referral-timeliness").enabled
    assert any("referral-timeliness" in line and "not declared" in line for line in report)


def test_entries_of_a_task_that_moved_app_follow_it_and_keep_staff_s_schedule(settings):
    """The HMIS access tasks moved from accounts to hmis_access: a database
    from before the move has beat entries naming the old paths."""
    staff_time = CrontabSchedule.objects.create(minute="15", hour="1", timezone=settings.CELERY_TIMEZONE)
    PeriodicTask.objects.filter(name="hmis-inactivity-sweep").update(
        task="accounts.tasks.hmis_inactivity_sweep", crontab=staff_time)
    PeriodicTask.objects.filter(name="hmis-inactivity-reminders").update(
        task="accounts.tasks.hmis_inactivity_reminders", enabled=False)
    # An extra run a CoC added itself, under its own name.
    PeriodicTask.objects.create(name="provisioning check at noon", task="accounts.tasks.sweep_provisioning_deadlines",
                                crontab=staff_time)
    PeriodicTask.objects.create(name="retired job", task="nowhere.task", crontab=staff_time)

    out = migrate()

    sweep = PeriodicTask.objects.get(name="hmis-inactivity-sweep")
    assert sweep.task == "hmis_accounts.tasks.hmis_inactivity_sweep"
    assert (sweep.crontab.minute, sweep.crontab.hour, sweep.enabled) == ("15", "1", True)
    reminders = PeriodicTask.objects.get(name="hmis-inactivity-reminders")
    assert (reminders.task, reminders.enabled) == ("hmis_accounts.tasks.hmis_inactivity_reminders", False)
    extra = PeriodicTask.objects.get(name="provisioning check at noon")
    assert (extra.task, extra.crontab_id) == ("hmis_access.tasks.sweep_provisioning_deadlines", staff_time.pk)
    # A task that exists nowhere cannot be guessed: left alone and reported.
    assert PeriodicTask.objects.get(name="retired job").task == "nowhere.task"
    assert "accounts.tasks.hmis_inactivity_sweep → hmis_accounts.tasks.hmis_inactivity_sweep" in out
    assert "retired job" in out and "nowhere.task" in out


def test_entries_of_the_hmis_account_tasks_follow_them_to_hmis_accounts(settings):
    """The inactivity sweep and the reminders moved from hmis_access to
    hmis_accounts: a database from the release before has entries naming the
    hmis_access paths, retimed by staff, and a run of their own."""
    staff_time = CrontabSchedule.objects.create(minute="30", hour="2", timezone=settings.CELERY_TIMEZONE)
    for name, task in [("hmis-inactivity-sweep", "hmis_inactivity_sweep"),
                       ("hmis-inactivity-reminders", "hmis_inactivity_reminders"),
                       ("hmis-login-reminders", "hmis_login_reminders")]:
        PeriodicTask.objects.filter(name=name).update(task=f"hmis_access.tasks.{task}", crontab=staff_time)
    PeriodicTask.objects.create(name="login reminders again", task="hmis_access.tasks.hmis_login_reminders",
                                crontab=staff_time, enabled=False)

    out = migrate()

    for name, task in [("hmis-inactivity-sweep", "hmis_inactivity_sweep"),
                       ("hmis-inactivity-reminders", "hmis_inactivity_reminders"),
                       ("hmis-login-reminders", "hmis_login_reminders"),
                       ("login reminders again", "hmis_login_reminders")]:
        entry = PeriodicTask.objects.get(name=name)
        assert (entry.task, entry.crontab_id) == (f"hmis_accounts.tasks.{task}", staff_time.pk)
    assert not PeriodicTask.objects.get(name="login reminders again").enabled
    # The provisioning deadlines stayed with HMIS access.
    assert PeriodicTask.objects.get(name="provisioning-deadlines").task == "hmis_access.tasks.sweep_provisioning_deadlines"
    assert "hmis_access.tasks.hmis_inactivity_sweep → hmis_accounts.tasks.hmis_inactivity_sweep" in out


def test_syncing_twice_changes_nothing_the_second_time():
    sync_beat_schedule()
    before = list(PeriodicTask.objects.order_by("name").values())
    assert sync_beat_schedule() == []
    assert list(PeriodicTask.objects.order_by("name").values()) == before

