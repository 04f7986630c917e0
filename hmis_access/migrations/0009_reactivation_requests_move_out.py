"""Reactivation requests move to the hmis_accounts app (the life of an HMIS
account after the grant). Only Django's state changes here: the table keeps
its name (the model sets db_table), so an existing database upgrades in place
with no data copied; hmis_accounts 0001 takes the state over and points the
content type (with the CoC groups' permissions and the audit trail) at the new
app."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('hmis_access', '0008_after_approval_and_deadline_in_hours'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='ReactivationRequest',
                ),
            ],
            database_operations=[],
        ),
    ]
