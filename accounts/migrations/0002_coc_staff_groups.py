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

IMPLEMENTATION = "CoC implementation"
TRAINING = "CoC training"
PROVISIONING = "CoC provisioning"
CES_TEAM = "CES team"
SYSTEM_ADMIN = "CoC system admin"

EVERY_GROUP_SEES = {
    "accounts": ["view_user", "view_organization", "view_membership"],
    "core": ["view_auditevent", "view_holiday"],
}


# The permissions on HMIS accounts and the access policy, granted here when
# those models lived in accounts, are granted by hmis_access 0002.
def create_groups(apps, schema_editor):
    grant(apps, {name: EVERY_GROUP_SEES for name in (IMPLEMENTATION, TRAINING, PROVISIONING, CES_TEAM, SYSTEM_ADMIN)})
    grant(
        apps,
        {
            IMPLEMENTATION: {"accounts": ["add_organization", "change_organization", "add_membership",
                                          "change_membership", "delete_membership"]},
            SYSTEM_ADMIN: {
                "accounts": ["add_user", "change_user", "add_organization", "change_organization",
                             "add_membership", "change_membership", "delete_membership"],
                "core": ["add_holiday", "change_holiday", "delete_holiday", "view_notification",
                         "change_notification"],
            },
        },
    )


def load_policy(apps, schema_editor):
    apps.get_model("accounts", "AccessPolicy").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_groups, migrations.RunPython.noop),
        migrations.RunPython(load_policy, migrations.RunPython.noop),
    ]
