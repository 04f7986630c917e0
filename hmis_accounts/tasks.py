"""Celery entry points for HMIS accounts (seed 002): thin, each calls a service
or the sweep."""

from celery import group, shared_task
from django.conf import settings
from django.template.defaultfilters import pluralize

from hmis_portal.core.calendar import as_of


@shared_task(ignore_result=True)
def hmis_inactivity_sweep(at: str | None = None) -> str:
    """Daily: the inactivity sweep as a group of chunks over ranges of account
    ids (settings.SWEEP_CHUNKS), which free workers take in parallel. Every
    chunk acts as of the same moment. With eager tasks (no broker) the chunks
    run here, one after the other, and the summary counts what they did."""
    from .sweep import SweepResult, account_ranges

    moment = as_of(at).isoformat()
    ranges = account_ranges(settings.SWEEP_CHUNKS)
    if not ranges:
        return SweepResult().summary()
    chunks = group(hmis_inactivity_sweep_chunk.si(moment, first, last) for first, last in ranges)
    if hmis_inactivity_sweep.app.conf.task_always_eager:
        done = SweepResult()
        for counts in chunks.apply().get():
            done += SweepResult(**counts)
        return done.summary()
    chunks.apply_async()
    return f"queued in {len(ranges)} chunk{pluralize(len(ranges))} (accounts {ranges[0][0]} to {ranges[-1][1]})"


@shared_task(ignore_result=True, soft_time_limit=settings.SWEEP_SOFT_TIME_LIMIT, time_limit=settings.SWEEP_TIME_LIMIT)
def hmis_inactivity_sweep_chunk(at: str, first_id: int, last_id: int) -> dict:
    """One chunk of the inactivity sweep: the accounts with ids first..last.
    Idempotent: a chunk whose worker died is run again (acks late) and
    finishes what is left; two workers on the same chunk take disjoint rows."""
    from dataclasses import asdict

    from .sweep import run_inactivity_sweep

    return asdict(run_inactivity_sweep(at=as_of(at), ids=(first_id, last_id)))


@shared_task(ignore_result=True)
def hmis_inactivity_reminders(at: str | None = None) -> str:
    from .sweep import send_inactivity_reminders

    sent = send_inactivity_reminders(at=as_of(at))
    return f"{sent} reminder{pluralize(sent)} queued"


@shared_task(ignore_result=True)
def hmis_login_reminders(at: str | None = None) -> str:
    from .sweep import send_login_reminders

    sent = send_login_reminders(at=as_of(at))
    return f"{sent} login reminder{pluralize(sent)} queued"
