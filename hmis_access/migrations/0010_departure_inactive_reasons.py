"""Two more reasons an HMIS account is Inactive: the person left the agency,
or the agency's Organization Agreement is no longer in force (choices only:
no column changes)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hmis_access', '0009_reactivation_requests_move_out'),
    ]

    operations = [
        migrations.AlterField(
            model_name='hmisaccount',
            name='inactive_reason',
            field=models.CharField(blank=True, choices=[('no_login', 'No HMIS login within the inactivity limit'), ('no_login_after_reactivation', 'No HMIS login in time after reactivation'), ('membership_ended', 'No longer with the agency'), ('agreement_expired', "The agency's Organization Agreement is no longer in force")], max_length=40),
        ),
    ]
