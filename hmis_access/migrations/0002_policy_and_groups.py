"""The access policy row (LA's defaults, seeds 000 and 002) and the CoC staff
groups' permissions on HMIS access. Idempotent: on a database that ran these
steps when the models lived in accounts, nothing changes."""

from django.db import migrations

from accounts.groups import grant

RETRAINING_COURSE = {"code": "hmis-basic-navigation",
                     "defaults": {"title": "HMIS Basic Navigation Training Series", "delivery": "online",
                                  "sort_order": 5}}


def load_policy(apps, schema_editor):
    """Seed 002: after 90 days without a login the user retakes "the HMIS
    Basic Navigation Training Series" (the CoC's online new-user series)."""
    AccessPolicy = apps.get_model("hmis_access", "AccessPolicy")
    Course = apps.get_model("training", "Course")
    policy, created = AccessPolicy.objects.get_or_create(pk=1)
    if created:
        course, _ = Course.objects.get_or_create(**RETRAINING_COURSE)
        policy.retraining_courses.add(course)


def grant_groups(apps, schema_editor):
    grant(apps, {
        "CoC provisioning": {"hmis_access": ["view_hmisaccount", "change_hmisaccount", "view_accesspolicy",
                                             "view_accessrequest", "change_accessrequest",
                                             "view_reactivationrequest", "change_reactivationrequest"]},
        "CoC training": {"hmis_access": ["view_hmisaccount", "view_accessrequest", "view_reactivationrequest"]},
        "CoC implementation": {"hmis_access": ["view_accessrequest"]},
        "CoC system admin": {"hmis_access": ["view_accesspolicy", "change_accesspolicy", "view_hmisaccount",
                                             "change_hmisaccount", "view_accessrequest", "change_accessrequest",
                                             "view_reactivationrequest", "change_reactivationrequest"]},
    })


class Migration(migrations.Migration):
    dependencies = [
        ("hmis_access", "0001_initial"),
        ("training", "0002_la_default_policy"),
    ]

    operations = [
        migrations.RunPython(load_policy, migrations.RunPython.noop),
        migrations.RunPython(grant_groups, migrations.RunPython.noop),
    ]
