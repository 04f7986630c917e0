"""The provisioning deadline in business days or in clock hours (seed 004:
"create user account within 24 – 48" hours), stored as the moment it is
missed.

Requests kept a due date (`provisioning_due_on`, by the end of that local
day); they now keep `provisioning_due_at`, the moment the deadline is missed:
local midnight after the due day for business days, ready_at plus the hours
for an hour deadline. Existing rows get the end of their due date in the CoC's
time zone. The sweep's one claim (`last_flagged_on`) becomes two, flagged due
today and escalated overdue, since an hour deadline can be both in one day; an
existing row already escalated today (flagged after its due date) keeps that
claim. The queue and the sweep read the new indexes (EXPLAIN in
tests/hmis_access/test_provisioning_hours.py)."""

import datetime as dt
import zoneinfo

import django.core.validators
from django.conf import settings
from django.db import migrations, models

BATCH = 1000


def _end_of_day(day, tz):
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def due_dates_to_moments(apps, schema_editor):
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    for name in ("AccessRequest", "ReactivationRequest"):
        model = apps.get_model("hmis_access", name)
        rows = []
        for row in model.objects.filter(provisioning_due_on__isnull=False).only(
                "pk", "provisioning_due_on", "last_flagged_on").iterator(chunk_size=BATCH):
            row.provisioning_due_at = _end_of_day(row.provisioning_due_on, tz)
            if row.last_flagged_on and row.last_flagged_on > row.provisioning_due_on:
                row.last_escalated_on = row.last_flagged_on
            rows.append(row)
        model.objects.bulk_update(rows, ["provisioning_due_at", "last_escalated_on"], batch_size=BATCH)


def due_moments_to_dates(apps, schema_editor):
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    for name in ("AccessRequest", "ReactivationRequest"):
        model = apps.get_model("hmis_access", name)
        rows = []
        for row in model.objects.filter(provisioning_due_at__isnull=False).only(
                "pk", "provisioning_due_at", "last_flagged_on", "last_escalated_on").iterator(chunk_size=BATCH):
            local = row.provisioning_due_at.astimezone(tz)
            row.provisioning_due_on = local.date() - dt.timedelta(days=1) if local.time() == dt.time.min else local.date()
            row.last_flagged_on = max(filter(None, [row.last_flagged_on, row.last_escalated_on]), default=None)
            rows.append(row)
        model.objects.bulk_update(rows, ["provisioning_due_on", "last_flagged_on"], batch_size=BATCH)


def hours_policy_to_days(apps, schema_editor):
    # Going back: a policy in hours becomes the business days it rounds up to
    # (the old column cannot be empty).
    AccessPolicy = apps.get_model("hmis_access", "AccessPolicy")
    for policy in AccessPolicy.objects.filter(provisioning_business_days__isnull=True):
        policy.provisioning_business_days = max(1, -(-policy.provisioning_hours // 24))
        policy.save(update_fields=["provisioning_business_days"])


class Migration(migrations.Migration):

    dependencies = [
        ("hmis_access", "0006_fewer_account_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesspolicy",
            name="provisioning_hours",
            field=models.PositiveSmallIntegerField(blank=True, help_text="Access is granted within this many hours (clock hours, weekends included) of a request becoming ready. Leave empty when the deadline is in business days.", null=True, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(720)]),
        ),
        migrations.AlterField(
            model_name="accesspolicy",
            name="provisioning_business_days",
            field=models.PositiveSmallIntegerField(blank=True, default=3, help_text="Access is granted by the end of this many business days after a request becomes ready. Leave empty when the deadline is in hours.", null=True, validators=[django.core.validators.MinValueValidator(1)]),
        ),
        migrations.RunPython(migrations.RunPython.noop, hours_policy_to_days),
        migrations.AddConstraint(
            model_name="accesspolicy",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("provisioning_business_days__isnull", False), ("provisioning_hours__isnull", True)), models.Q(("provisioning_business_days__isnull", True), ("provisioning_hours__isnull", False)), _connector="OR"), name="provisioning_deadline_in_days_or_hours"),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="last_escalated_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="provisioning_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="provisioning deadline"),
        ),
        migrations.AddField(
            model_name="reactivationrequest",
            name="last_escalated_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="reactivationrequest",
            name="provisioning_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="provisioning deadline"),
        ),
        migrations.RunPython(due_dates_to_moments, due_moments_to_dates),
        migrations.AlterModelOptions(
            name="reactivationrequest",
            options={"ordering": ["provisioning_due_at", "requested_at"]},
        ),
        migrations.RemoveIndex(
            model_name="reactivationrequest",
            name="reactivation_queue",
        ),
        migrations.RemoveField(
            model_name="accessrequest",
            name="provisioning_due_on",
        ),
        migrations.RemoveField(
            model_name="reactivationrequest",
            name="provisioning_due_on",
        ),
        migrations.AddIndex(
            model_name="accessrequest",
            index=models.Index(condition=models.Q(("status", "ready")), fields=["provisioning_due_at", "id"], name="access_request_due"),
        ),
        migrations.AddIndex(
            model_name="reactivationrequest",
            index=models.Index(fields=["status", "provisioning_due_at"], name="reactivation_queue"),
        ),
    ]
