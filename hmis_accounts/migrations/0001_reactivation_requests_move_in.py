"""HMIS accounts takes over reactivation requests from hmis_access (see
hmis_access 0009). The table already exists under its old name, so this
migration changes Django's state only, and points the content type (and with
it the CoC groups' permissions and every audit event about these requests) at
the new app. Nothing here imports the portal's code: what it needs is copied."""

import django.db.models.deletion
import django.utils.timezone
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models


MOVED = ["reactivationrequest"]

# The CoC staff groups' permissions on HMIS access and HMIS accounts as they
# stand after the move (hmis_access 0002, with reactivations now here).
GRANTS = {
    "CoC provisioning": {"hmis_access": ["view_hmisaccount", "change_hmisaccount", "view_accesspolicy",
                                         "view_accessrequest", "change_accessrequest"],
                         "hmis_accounts": ["view_reactivationrequest", "change_reactivationrequest"]},
    "CoC training": {"hmis_access": ["view_hmisaccount", "view_accessrequest"],
                     "hmis_accounts": ["view_reactivationrequest"]},
    "CoC implementation": {"hmis_access": ["view_accessrequest"]},
    "CoC system admin": {"hmis_access": ["view_accesspolicy", "change_accesspolicy", "view_hmisaccount",
                                         "change_hmisaccount", "view_accessrequest", "change_accessrequest"],
                         "hmis_accounts": ["view_reactivationrequest", "change_reactivationrequest"]},
}


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    moving = ContentType.objects.filter(app_label=old, model__in=MOVED)
    # A content type already made under the new label (post-migrate having run
    # against the new code first) would collide: the old one carries the
    # permissions and audit events, so it wins.
    ContentType.objects.filter(app_label=new, model__in=moving.values("model")).delete()
    moving.update(app_label=new)


def move_content_types(apps, schema_editor):
    _relabel(apps, "hmis_access", "hmis_accounts")


def move_content_types_back(apps, schema_editor):
    _relabel(apps, "hmis_accounts", "hmis_access")


def grant_groups(apps, schema_editor):
    """Give the CoC groups their permissions on both apps (idempotent: on a
    database that had them, the moved content type brought them along)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in {label for per_app in GRANTS.values() for label in per_app}:
        create_permissions(global_apps.get_app_config(app_label), apps=apps, verbosity=0)
    for group_name, per_app in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for app_label, codenames in per_app.items():
            permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            missing = set(codenames) - {p.codename for p in permissions}
            if missing:
                raise RuntimeError(f"Unknown permissions for {app_label}: {sorted(missing)}")
            group.permissions.add(*permissions)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0006_invitations'),
        ('hmis_access', '0009_reactivation_requests_move_out'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0012_alter_user_first_name_max_length'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ReactivationRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('ready_at', models.DateTimeField(blank=True, null=True, verbose_name='ready for provisioning at')),
                        ('provisioning_due_at', models.DateTimeField(blank=True, null=True, verbose_name='provisioning deadline')),
                        ('provisioned_at', models.DateTimeField(blank=True, null=True)),
                        ('last_flagged_on', models.DateField(blank=True, null=True)),
                        ('last_escalated_on', models.DateField(blank=True, null=True)),
                        ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('note', models.TextField(blank=True)),
                        ('status', models.CharField(choices=[('waiting_for_retraining', 'Waiting for retraining'), ('ready', 'Ready for provisioning'), ('reactivated', 'Reactivated'), ('declined', 'Declined')], max_length=30)),
                        ('declined_at', models.DateTimeField(blank=True, null=True)),
                        ('decline_reason', models.TextField(blank=True)),
                        ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reactivation_requests', to='hmis_access.hmisaccount')),
                        ('declined_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reactivation_requests', to='accounts.organization')),
                        ('provisioned_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reactivation_requests', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'accounts_reactivationrequest',
                        'ordering': ['provisioning_due_at', 'requested_at'],
                        'indexes': [models.Index(fields=['status', 'provisioning_due_at'], name='reactivation_queue')],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status__in', ['waiting_for_retraining', 'ready'])), fields=('account',), name='one_open_reactivation_request')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
        migrations.RunPython(grant_groups, migrations.RunPython.noop),
    ]
