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

CES_TEAM = "CES team"
SYSTEM_ADMIN = "CoC system admin"


def grant_permissions(apps, schema_editor):
    grant(apps, {
        # The CES team owns the need-status list and the referral policy
        # (SPEC §4: CoC staff edit the list, the deadlines, who may set each);
        # referrals themselves change only through the portal's services.
        CES_TEAM: {"referrals": ["view_needstatus", "add_needstatus", "change_needstatus",
                                 "view_referralpolicy", "change_referralpolicy",
                                 "view_referral", "view_referraltransition"]},
        SYSTEM_ADMIN: {"referrals": ["view_needstatus", "add_needstatus", "change_needstatus",
                                     "view_referralpolicy", "change_referralpolicy",
                                     "view_referral", "view_referraltransition"]},
    })


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_default_need_statuses"),
        ("accounts", "0002_coc_staff_groups"),
    ]
    operations = [migrations.RunPython(grant_permissions, migrations.RunPython.noop)]
