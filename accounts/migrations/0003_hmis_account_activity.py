"""HMIS account activity (seed 002): the inactivity and retraining clocks,
reactivation, login reminders, the calendar feed token, reactivation
requests, and the policy numbers that drive them."""

import secrets

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone



def new_calendar_token():
    # Was accounts.models.new_calendar_token; HMIS accounts now live in the
    # hmis_access app, and a migration of accounts imports nothing above it.
    return secrets.token_urlsafe(24)


def fill_clocks(apps, schema_editor):
    HMISAccount = apps.get_model("accounts", "HMISAccount")
    tz = timezone.get_default_timezone()
    for account in HMISAccount.objects.all().iterator():
        start = timezone.localtime(account.last_hmis_login_at or account.provisioned_at, tz).date()
        account.inactivity_counted_from = start
        account.retraining_counted_from = start
        account.calendar_token = secrets.token_urlsafe(24)
        account.save(update_fields=["inactivity_counted_from", "retraining_counted_from", "calendar_token"])


# The retraining courses of the policy and of each account (many-to-many to
# training, a stage above accounts) are made by hmis_access 0001, and the
# policy's default course loaded by hmis_access 0002: a migration of accounts
# depends on nothing above it. Databases that ran the earlier form of this
# migration already have both.
class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_coc_staff_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesspolicy",
            name="login_reminder_days_of_month",
            field=models.CharField(default="1,15", help_text="Days of the month on which users who opt in are reminded to log in to HMIS, comma-separated.", max_length=50),
        ),
        migrations.AddField(
            model_name="accesspolicy",
            name="reactivation_login_days",
            field=models.PositiveSmallIntegerField(default=0, help_text="Days after the day of reactivation by whose end the user must log in (0: that same day)."),
        ),
        migrations.AddField(
            model_name="accesspolicy",
            name="at_risk_within_days",
            field=models.PositiveSmallIntegerField(default=7, help_text="Agencies see a user as at risk this many days (or fewer) before going Inactive or needing retraining."),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="inactivity_counted_from",
            field=models.DateField(null=True, verbose_name="inactivity counted from"),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="retraining_counted_from",
            field=models.DateField(null=True, verbose_name="retraining counted from"),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="calendar_token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(fill_clocks, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="hmisaccount",
            name="inactivity_counted_from",
            field=models.DateField(help_text="Local date the no-login days are counted from (last login, provisioning or reactivation, whichever is latest).", verbose_name="inactivity counted from"),
        ),
        migrations.AlterField(
            model_name="hmisaccount",
            name="retraining_counted_from",
            field=models.DateField(help_text="Local date the days towards retraining are counted from.", verbose_name="retraining counted from"),
        ),
        migrations.AlterField(
            model_name="hmisaccount",
            name="calendar_token",
            field=models.CharField(default=new_calendar_token, editable=False, max_length=64, unique=True),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="must_log_in_by",
            field=models.DateField(blank=True, help_text="Set on reactivation: with no HMIS login by the end of this date the account is Inactive again.", null=True),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="reactivated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="inactive_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="inactive_reason",
            field=models.CharField(blank=True, choices=[("no_login", "No HMIS login within the inactivity limit"), ("no_login_after_reactivation", "No HMIS login on the day of reactivation")], max_length=40),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="retraining_required",
            field=models.BooleanField(default=False, help_text="No login for the retraining limit: the basic training must be retaken before reactivation (seed 002)."),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="retraining_required_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="hmisaccount",
            name="login_reminders",
            field=models.BooleanField(default=False, help_text="The user asked to be reminded to log in on the policy's days of the month (seed 002: 1st and 15th).", verbose_name="login reminders"),
        ),
        migrations.AddIndex(
            model_name="hmisaccount",
            index=models.Index(condition=models.Q(("must_log_in_by__isnull", True), ("status", "active")), fields=["inactivity_counted_from", "id"], name="hmis_inactivity_due"),
        ),
        migrations.AddIndex(
            model_name="hmisaccount",
            index=models.Index(condition=models.Q(("must_log_in_by__isnull", False), ("status", "active")), fields=["must_log_in_by", "id"], name="hmis_reactivation_login_due"),
        ),
        migrations.AddIndex(
            model_name="hmisaccount",
            index=models.Index(condition=models.Q(("retraining_required", False)), fields=["retraining_counted_from", "id"], name="hmis_retraining_due"),
        ),
        migrations.AddIndex(
            model_name="hmisaccount",
            index=models.Index(condition=models.Q(("login_reminders", True), ("status", "active")), fields=["id"], name="hmis_login_reminder_opt_in"),
        ),
        migrations.AddIndex(
            model_name="hmisaccount",
            index=models.Index(fields=["organization", "status"], name="hmis_account_org_status"),
        ),
        migrations.AddIndex(
            model_name="hmisaccount",
            index=models.Index(fields=["status", "retraining_required"], name="hmis_account_status"),
        ),
        migrations.CreateModel(
            name="ReactivationRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("ready_at", models.DateTimeField(blank=True, null=True, verbose_name="ready for provisioning at")),
                ("provisioning_due_on", models.DateField(blank=True, db_index=True, null=True, verbose_name="provisioning deadline")),
                ("provisioned_at", models.DateTimeField(blank=True, null=True)),
                ("last_flagged_on", models.DateField(blank=True, null=True)),
                ("requested_at", models.DateTimeField(default=timezone.now)),
                ("note", models.TextField(blank=True)),
                ("status", models.CharField(choices=[("waiting_for_retraining", "Waiting for retraining"), ("ready", "Ready for provisioning"), ("reactivated", "Reactivated"), ("declined", "Declined")], max_length=30)),
                ("declined_at", models.DateTimeField(blank=True, null=True)),
                ("decline_reason", models.TextField(blank=True)),
                ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reactivation_requests", to="accounts.hmisaccount")),
                ("declined_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reactivation_requests", to="accounts.organization")),
                ("provisioned_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("requested_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reactivation_requests", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "ordering": ["provisioning_due_on", "requested_at"],
                "abstract": False,
                "indexes": [models.Index(fields=["status", "provisioning_due_on"], name="reactivation_queue")],
                "constraints": [models.UniqueConstraint(condition=models.Q(("status__in", ["waiting_for_retraining", "ready"])), fields=("account",), name="one_open_reactivation_request")],
            },
        ),
    ]
