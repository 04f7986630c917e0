"""Fewer indexes on the HMIS account table, so the sweep's and the login
import's updates rewrite fewer of them. Kept: the three partial indexes the
sweep's selections read (EXPLAIN in benchmarks/accounts.py), the reminder
opt-in index, (organization, status) for agency pages, and the unique
constraints. Dropped: (status, retraining_required), which no query reads
(the dashboard counts scan the table or an agency's rows), and PostgreSQL's
pattern-matching (`_like`) copies of the unique username and calendar token
indexes: both are only ever looked up by equality."""

from django.db import migrations


def _drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("""SELECT indexname FROM pg_indexes WHERE tablename = 'accounts_hmisaccount'
                          AND indexname LIKE '%%\\_like' AND (indexdef LIKE '%%(hmis_username %%'
                          OR indexdef LIKE '%%(calendar_token %%')""")
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ("hmis_access", "0005_help_texts"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="hmisaccount",
            name="hmis_account_status",
        ),
        # Not recreated: nothing alters these fields; a later change to either
        # field would bring its `_like` index back, and this note with it.
        migrations.RunPython(_drop_like_indexes, migrations.RunPython.noop),
    ]
