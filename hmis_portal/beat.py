"""Celery beat's scheduler: django-celery-beat's database scheduler, which
also touches a heartbeat file on every tick, so that the container's probe
(`python -m hmis_portal.probe beat`) can tell a beat that runs from one that
hangs or died."""

import os
from pathlib import Path

from django_celery_beat.schedulers import DatabaseScheduler

from hmis_portal.probe import BEAT_HEARTBEAT_FILE


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        Path(os.environ.get("BEAT_HEARTBEAT_FILE", BEAT_HEARTBEAT_FILE)).touch()
        return interval
