import time

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from hmis_portal.core.metrics import record_sweep_run
from hmis_portal.schedule import JOBS


class Command(BaseCommand):
    help = "Run every periodic job once, as of now or of --at, and print one summary line per job."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="ISO datetime to act as of, e.g. 2026-12-01T00:05 (CoC time zone if naive)")
        parser.add_argument("--only", action="append", default=[], help="Run only this job (repeatable)")

    def handle(self, *args, at=None, only=(), **options):
        moment = None
        if at:
            moment = parse_datetime(at)
            if moment is None:
                raise CommandError(f"--at {at!r} is not an ISO datetime (e.g. 2026-12-01T00:05 or 2026-12-01T08:05Z)")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, timezone.get_default_timezone())
        unknown = set(only) - {job.name for job in JOBS}
        if unknown:
            raise CommandError(f"Unknown job{pluralize(len(unknown))}: {', '.join(sorted(unknown))}")
        for job in JOBS:
            if only and job.name not in only:
                continue
            task = import_string(job.task)
            # Called in this process, synchronously: the same code beat runs on a worker.
            started = time.monotonic()
            summary = task(at=moment.isoformat() if moment else None)
            record_sweep_run(job.name, seconds=time.monotonic() - started)
            self.stdout.write(f"{job.name}: {summary}")
