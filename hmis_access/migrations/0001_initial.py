"""HMIS access takes over the models that lived in accounts (see accounts
0005). The tables already exist under their old names, so this migration
changes Django's state only, and points the content types (and with them the
CoC groups' permissions and every audit event about these objects) at the new
app."""

import secrets

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = ["accesspolicy", "accessrequest", "hmisaccount", "reactivationrequest"]

# The many-to-many tables to earlier stages (onboarding's programs, training's
# CES roles and courses). A database made before HMIS access had its own app
# has them under these names already (accounts 0003 used to make them); a new
# database gets them here, so that no migration of accounts depends on a stage
# above it.
ACROSS_STAGES = [("accessrequest", "programs"), ("accessrequest", "roles"), ("accesspolicy", "retraining_courses"),
                 ("hmisaccount", "retraining_courses")]
RETRAINING_COURSE = {"code": "hmis-basic-navigation",
                     "defaults": {"title": "HMIS Basic Navigation Training Series", "delivery": "online",
                                  "sort_order": 5}}


class NewCalendarToken:
    """Was `hmis_access.models.new_calendar_token` (a migration imports no app
    code): the same random token. It equals that function, so the
    migration autodetector, which compares a field's default, sees no change."""

    def __call__(self):
        return secrets.token_urlsafe(24)

    def __eq__(self, other):
        return isinstance(other, NewCalendarToken) or (
            getattr(other, "__module__", None) == "hmis_access.models"
            and getattr(other, "__qualname__", None) == "new_calendar_token")

    __hash__ = object.__hash__


new_calendar_token = NewCalendarToken()


def _through_tables(apps):
    for model, field in ACROSS_STAGES:
        yield apps.get_model("hmis_access", model)._meta.get_field(field).remote_field.through


def make_tables_across_stages(apps, schema_editor):
    existing = set(schema_editor.connection.introspection.table_names())
    made = False
    for through in _through_tables(apps):
        if through._meta.db_table not in existing:
            schema_editor.create_model(through)
            made = True
    if made:
        # A new database: the policy's retraining course (seed 002: after 90
        # days without a login the user retakes "the HMIS Basic Navigation
        # Training Series"), as accounts 0003 loaded it before.
        Course = apps.get_model("training", "Course")
        policy, _ = apps.get_model("hmis_access", "AccessPolicy").objects.get_or_create(pk=1)
        course, _ = Course.objects.get_or_create(**RETRAINING_COURSE)
        policy.retraining_courses.add(course)


def drop_tables_across_stages(apps, schema_editor):
    existing = set(schema_editor.connection.introspection.table_names())
    for through in _through_tables(apps):
        if through._meta.db_table in existing:
            schema_editor.delete_model(through)


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    moving = ContentType.objects.filter(app_label=old, model__in=MOVED)
    # A content type already made under the new label (post-migrate having run
    # against the new code first) would collide: the old one carries the
    # permissions and audit events, so it wins.
    ContentType.objects.filter(app_label=new, model__in=moving.values("model")).delete()
    moving.update(app_label=new)


def move_content_types(apps, schema_editor):
    _relabel(apps, "accounts", "hmis_access")


def move_content_types_back(apps, schema_editor):
    _relabel(apps, "hmis_access", "accounts")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0005_hmis_access_moves_out'),
        ('onboarding', '0004_ces_roles_policy_and_groups'),
        ('training', '0002_la_default_policy'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AccessPolicy',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('provisioning_business_days', models.PositiveSmallIntegerField(default=3, help_text='Access is granted within this many business days of a request becoming ready.')),
                        ('inactive_after_days', models.PositiveSmallIntegerField(default=30, help_text='An HMIS account with no login for this many days becomes Inactive.')),
                        ('retraining_after_days', models.PositiveSmallIntegerField(default=90, help_text='With no login for this many days, the user must retake the basic training.')),
                        ('reminder_days_before', models.CharField(default='7,1', help_text='Days before going Inactive on which the user is reminded, comma-separated.', max_length=50)),
                        ('login_reminder_days_of_month', models.CharField(default='1,15', help_text='Days of the month on which users who opt in are reminded to log in to HMIS, comma-separated.', max_length=50)),
                        ('reactivation_login_days', models.PositiveSmallIntegerField(default=0, help_text='Days after the day of reactivation by whose end the user must log in (0: that same day).')),
                        ('at_risk_within_days', models.PositiveSmallIntegerField(default=7, help_text='Agencies see a user as at risk this many days (or fewer) before going Inactive or needing retraining.')),
                        ('retraining_courses', models.ManyToManyField(blank=True, help_text='Courses assigned again when retraining is required; all must be completed before reactivation.', related_name='+', to='training.course')),
                    ],
                    options={
                        'verbose_name': 'access policy',
                        'verbose_name_plural': 'access policy',
                        'db_table': 'accounts_accesspolicy',
                    },
                ),
                migrations.CreateModel(
                    name='HMISAccount',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('hmis_username', models.CharField(max_length=150, unique=True, verbose_name='HMIS username')),
                        ('hmis_role', models.CharField(max_length=80, verbose_name='HMIS role')),
                        ('status', models.CharField(choices=[('active', 'Active'), ('inactive', 'Inactive')], default='active', max_length=10)),
                        ('provisioned_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_hmis_login_at', models.DateTimeField(blank=True, null=True, verbose_name='last HMIS login')),
                        ('inactivity_counted_from', models.DateField(help_text='Local date the no-login days are counted from (last login, provisioning or reactivation, whichever is latest).', verbose_name='inactivity counted from')),
                        ('retraining_counted_from', models.DateField(help_text='Local date the days towards retraining are counted from.', verbose_name='retraining counted from')),
                        ('must_log_in_by', models.DateField(blank=True, help_text='Set on reactivation: with no HMIS login by the end of this date the account is Inactive again.', null=True)),
                        ('reactivated_at', models.DateTimeField(blank=True, null=True)),
                        ('inactive_since', models.DateTimeField(blank=True, null=True)),
                        ('inactive_reason', models.CharField(blank=True, choices=[('no_login', 'No HMIS login within the inactivity limit'), ('no_login_after_reactivation', 'No HMIS login on the day of reactivation')], max_length=40)),
                        ('retraining_required', models.BooleanField(default=False, help_text='No login for the retraining limit: the basic training must be retaken before reactivation (seed 002).')),
                        ('retraining_required_on', models.DateField(blank=True, null=True)),
                        ('login_reminders', models.BooleanField(default=False, help_text="The user asked to be reminded to log in on the policy's days of the month (seed 002: 1st and 15th).", verbose_name='login reminders')),
                        ('calendar_token', models.CharField(default=new_calendar_token, editable=False, max_length=64, unique=True)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='hmis_accounts', to='accounts.organization')),
                        ('retraining_courses', models.ManyToManyField(blank=True, help_text="The courses assigned when retraining became required (the policy's at that time).", related_name='+', to='training.course')),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='hmis_account', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'HMIS account',
                        'db_table': 'accounts_hmisaccount',
                        'ordering': ['hmis_username'],
                    },
                ),
                migrations.CreateModel(
                    name='ReactivationRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('ready_at', models.DateTimeField(blank=True, null=True, verbose_name='ready for provisioning at')),
                        ('provisioning_due_on', models.DateField(blank=True, db_index=True, null=True, verbose_name='provisioning deadline')),
                        ('provisioned_at', models.DateTimeField(blank=True, null=True)),
                        ('last_flagged_on', models.DateField(blank=True, null=True)),
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
                        'ordering': ['provisioning_due_on', 'requested_at'],
                    },
                ),
                migrations.CreateModel(
                    name='AccessRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('ready_at', models.DateTimeField(blank=True, null=True, verbose_name='ready for provisioning at')),
                        ('provisioning_due_on', models.DateField(blank=True, db_index=True, null=True, verbose_name='provisioning deadline')),
                        ('provisioned_at', models.DateTimeField(blank=True, null=True)),
                        ('last_flagged_on', models.DateField(blank=True, null=True)),
                        ('new_hmis_user', models.BooleanField(default=True, help_text='New users take HMIS 10 and sign the HMIS 10 Acknowledgement.', verbose_name='new HMIS user')),
                        ('status', models.CharField(choices=[('open', 'Gathering requirements'), ('ready', 'Ready for provisioning'), ('provisioned', 'Access granted'), ('withdrawn', 'Withdrawn')], default='open', max_length=12)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('hmis_username', models.CharField(blank=True, max_length=150, verbose_name='HMIS username granted')),
                        ('hmis_role', models.CharField(blank=True, max_length=80, verbose_name='HMIS role granted')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='access_requests', to='accounts.organization')),
                        ('programs', models.ManyToManyField(blank=True, related_name='access_requests', to='onboarding.program')),
                        ('provisioned_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('requested_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('roles', models.ManyToManyField(related_name='access_requests', to='training.cesrole')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='access_requests', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'accounts_accessrequest',
                        'ordering': ['-created_at', '-pk'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status__in', ['open', 'ready'])), fields=('user',), name='one_live_access_request_per_user')],
                    },
                ),
                migrations.AddIndex(
                    model_name='hmisaccount',
                    index=models.Index(condition=models.Q(('must_log_in_by__isnull', True), ('status', 'active')), fields=['inactivity_counted_from', 'id'], name='hmis_inactivity_due'),
                ),
                migrations.AddIndex(
                    model_name='hmisaccount',
                    index=models.Index(condition=models.Q(('must_log_in_by__isnull', False), ('status', 'active')), fields=['must_log_in_by', 'id'], name='hmis_reactivation_login_due'),
                ),
                migrations.AddIndex(
                    model_name='hmisaccount',
                    index=models.Index(condition=models.Q(('retraining_required', False)), fields=['retraining_counted_from', 'id'], name='hmis_retraining_due'),
                ),
                migrations.AddIndex(
                    model_name='hmisaccount',
                    index=models.Index(condition=models.Q(('login_reminders', True), ('status', 'active')), fields=['id'], name='hmis_login_reminder_opt_in'),
                ),
                migrations.AddIndex(
                    model_name='hmisaccount',
                    index=models.Index(fields=['organization', 'status'], name='hmis_account_org_status'),
                ),
                migrations.AddIndex(
                    model_name='hmisaccount',
                    index=models.Index(fields=['status', 'retraining_required'], name='hmis_account_status'),
                ),
                migrations.AddIndex(
                    model_name='reactivationrequest',
                    index=models.Index(fields=['status', 'provisioning_due_on'], name='reactivation_queue'),
                ),
                migrations.AddConstraint(
                    model_name='reactivationrequest',
                    constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['waiting_for_retraining', 'ready'])), fields=('account',), name='one_open_reactivation_request'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(make_tables_across_stages, drop_tables_across_stages),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
