"""The access policy row (LA's defaults, seeds 000 and 002) and the CoC staff
groups' permissions on HMIS access. Idempotent: on a database that ran these
steps when the models lived in accounts, nothing changes."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, grants):
    """Was `accounts.groups.grant` (a migration imports no app code): `grants`
    maps a CoC staff group's name to {app_label: [permission codenames]}.
    Permissions are normally created after migrate; they are created here so
    that a new database gets its groups in one pass."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in {label for per_app in grants.values() for label in per_app}:
        create_permissions(global_apps.get_app_config(app_label), apps=apps, verbosity=0)
    for group_name, per_app in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for app_label, codenames in per_app.items():
            permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            missing = set(codenames) - {p.codename for p in permissions}
            if missing:
                raise RuntimeError(f"Unknown permissions for {app_label}: {sorted(missing)}")
            group.permissions.add(*permissions)

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
