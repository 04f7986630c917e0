"""CoC staff groups and their admin permissions, granted by migrations.

Each app's data migration calls `grant` for its own models, so a group's
permissions grow with the apps and live next to the models they are about.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions


def grant(apps, grants: dict[str, dict[str, list[str]]]) -> None:
    """`grants` maps a group name to {app_label: [permission codenames]}.

    Permissions are normally created after migrate; create them now so that a
    fresh database gets its groups in one pass.
    """
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
