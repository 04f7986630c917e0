"""One index fewer on the outbox, which every sweep batch inserts into: the
pattern-matching (`_like`, varchar_pattern_ops) copy PostgreSQL makes of the
unique index on `dedupe_key`. Every query on the key is an equality or a
conflict on it, and each is served by the unique index itself
(`core_notification_dedupe_key_key`):

- `notify(…, dedupe_key=)`: `WHERE dedupe_key = %s` (Index Only Scan using
  core_notification_dedupe_key_key);
- `notify_many`: `WHERE dedupe_key IN (…)` (Index Scan using
  core_notification_dedupe_key_key);
- the sweeps' `INSERT … ON CONFLICT (dedupe_key) DO NOTHING` and
  `bulk_create(ignore_conflicts=True)`: Conflict Arbiter Indexes:
  core_notification_dedupe_key_key.

No query reads the key with LIKE or a prefix (benchmarks/accounts.py prints
these plans over the sweep's outbox). SQLite has no such index."""

from django.db import migrations


def _drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("""SELECT indexname FROM pg_indexes WHERE tablename = 'core_notification'
                          AND indexname LIKE '%%\\_like' AND indexdef LIKE '%%(dedupe_key varchar_pattern_ops)%%'""")
        for (name,) in cursor.fetchall():
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        # Not recreated on the way back: nothing needs it. A later AlterField
        # of dedupe_key would bring it back, and this migration's reason with it.
        migrations.RunPython(_drop_like_index, migrations.RunPython.noop),
    ]
