from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The small shared core: audit events, the notification outbox, the
    business-day calendar and private documents. Every app may use it; it
    uses no app."""

    name = "hmis_portal.core"
    label = "core"
    verbose_name = "Portal core"

    def ready(self):
        from django.db.models.signals import post_migrate

        from hmis_portal import schedule

        from . import metrics, observability

        metrics.register()
        observability.connect_signals()

        # Beat reads its schedule from the database; keep it equal to the one
        # place the jobs are declared (hmis_portal/schedule.py).
        post_migrate.connect(schedule.sync_beat_schedule, sender=self, dispatch_uid="core.sync_beat_schedule")
        # What pages keep in the cache (core.cached) was kept by the code and
        # the tables before this migration: none of it is read after.
        post_migrate.connect(_forget_kept_rows, sender=self, dispatch_uid="core.forget_kept_rows")


def _forget_kept_rows(**kwargs):
    from . import cached

    cached.changed(cached.SCHEMA)
