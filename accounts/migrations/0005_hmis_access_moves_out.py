"""Access requests, HMIS accounts, reactivations and the access policy move to
the hmis_access app. Only Django's state changes here: the tables keep their
names (each model sets db_table), so an existing database upgrades in place
with no data copied; hmis_access 0001 takes the state over."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_merge_0003_access_requests_0003_hmis_account_activity'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='accessrequest',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='accessrequest',
                    name='provisioned_by',
                ),
                migrations.RemoveField(
                    model_name='accessrequest',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='accessrequest',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='hmisaccount',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='hmisaccount',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='reactivationrequest',
                    name='account',
                ),
                migrations.RemoveField(
                    model_name='reactivationrequest',
                    name='declined_by',
                ),
                migrations.RemoveField(
                    model_name='reactivationrequest',
                    name='organization',
                ),
                migrations.RemoveField(
                    model_name='reactivationrequest',
                    name='provisioned_by',
                ),
                migrations.RemoveField(
                    model_name='reactivationrequest',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='reactivationrequest',
                    name='user',
                ),
                migrations.DeleteModel(
                    name='AccessPolicy',
                ),
                migrations.DeleteModel(
                    name='AccessRequest',
                ),
                migrations.DeleteModel(
                    name='HMISAccount',
                ),
                migrations.DeleteModel(
                    name='ReactivationRequest',
                ),
            ],
            database_operations=[],
        ),
    ]
