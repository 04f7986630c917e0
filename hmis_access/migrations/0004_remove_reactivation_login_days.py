"""The days-based reactivation window, replaced by hours in 0003 (its own
migration: PostgreSQL alters no table with changes pending in the same
transaction)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("hmis_access", "0003_reactivation_window_in_hours"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="accesspolicy",
            name="reactivation_login_days",
        ),
    ]
