from django.db import migrations

from accounts.groups import grant

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
