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

# Seed 000, step 2.3: "The organization's role in the CES process may include
# one or more of the following".
CES_ORGANIZATION_ROLES = [
    ("assessment-only", "Assessment Only", "Organization has staff that surveys clients with no other services provided."),
    ("housing-navigation", "Housing Navigation/Case Management",
     "Organization has staff that surveys clients and provides housing navigation services."),
    ("housing-provider", "Housing Provider",
     "Organization has staff that completes housing vacancy forms and manages housing resources."),
]

IMPLEMENTATION = "CoC implementation"
TRAINING = "CoC training"
PROVISIONING = "CoC provisioning"
CES_TEAM = "CES team"
SYSTEM_ADMIN = "CoC system admin"

EVERY_GROUP_SEES = ["view_programtype", "view_program", "view_organizationagreement", "view_agreementcopy",
                    "view_cesorganizationrole", "view_organizationcesrole", "view_onboardingpolicy"]


def load_roles_and_policy(apps, schema_editor):
    Role = apps.get_model("onboarding", "CESOrganizationRole")
    for order, (code, name, description) in enumerate(CES_ORGANIZATION_ROLES):
        Role.objects.update_or_create(code=code, defaults={"name": name, "description": description,
                                                           "sort_order": order})
    # LA's defaults: no agreement term; reminders 60/30/7 days before expiry
    # once CoC staff set one; the status list is for signed-in users.
    apps.get_model("onboarding", "OnboardingPolicy").objects.get_or_create(pk=1)


def grant_groups(apps, schema_editor):
    grant(apps, {name: {"onboarding": EVERY_GROUP_SEES}
                 for name in (IMPLEMENTATION, TRAINING, PROVISIONING, CES_TEAM, SYSTEM_ADMIN)})
    grant(apps, {
        # Seed 000 sends signed agreements to the training inbox and program
        # setup to the implementation team; both may countersign.
        IMPLEMENTATION: {"onboarding": ["countersign_organizationagreement", "change_organizationagreement",
                                        "work_program_setup", "change_program",
                                        "add_organizationcesrole", "change_organizationcesrole",
                                        "delete_organizationcesrole"]},
        TRAINING: {"onboarding": ["countersign_organizationagreement", "change_organizationagreement"]},
        SYSTEM_ADMIN: {"onboarding": ["countersign_organizationagreement", "change_organizationagreement",
                                      "work_program_setup", "change_program",
                                      "add_programtype", "change_programtype",
                                      "add_cesorganizationrole", "change_cesorganizationrole",
                                      "change_onboardingpolicy",
                                      "add_organizationcesrole", "change_organizationcesrole",
                                      "delete_organizationcesrole"]},
    })


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0003_agreements_program_setup")]
    operations = [
        migrations.RunPython(load_roles_and_policy, migrations.RunPython.noop),
        migrations.RunPython(grant_groups, migrations.RunPython.noop),
    ]
