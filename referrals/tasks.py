from celery import group, shared_task
from django.conf import settings
from django.template.defaultfilters import pluralize

from hmis_portal.core import calendar, metrics

from . import services


def _summary(result: dict) -> str:
    overdue, escalated = result["overdue"], result["escalated"]
    return (f"{overdue} overdue alert{pluralize(overdue)}, {escalated} escalation{pluralize(escalated)}, "
            f"{result['moved']} moved for no response")


@shared_task(ignore_result=True)
def referral_timeliness_sweep(at: str | None = None) -> str:
    """Overdue alerts to providers, escalations to the CES team, and the
    policy's move of unanswered referrals (see services.sweep_timeliness), as
    a group of chunks (settings.SWEEP_CHUNKS) that free workers take in
    parallel. With eager tasks (no broker) the chunks run here, one after the
    other, and the summary counts what they did."""
    from .sweep import plan

    moment = calendar.as_of(at)
    chunks = plan(now=moment, parts=settings.SWEEP_CHUNKS)
    done = {"overdue": 0, "escalated": 0, "moved": 0}
    if not chunks:
        return _summary(done)
    if referral_timeliness_sweep.app.conf.task_always_eager:
        tasks = group(referral_timeliness_sweep_chunk.si(moment.isoformat(), overdue, escalation)
                      for overdue, escalation in chunks)
        # The chunks have already run, here: get() only reads their results.
        # Celery would refuse it in a process that has hosted a worker.
        for counts in tasks.apply().get(disable_sync_subtasks=False):
            done = {key: done[key] + counts[key] for key in done}
        return _summary(done)
    # Timed from the first chunk's start to the last one's end, wherever they run.
    run = metrics.hand_out_chunks(task_name=referral_timeliness_sweep.name,
                                  task_id=referral_timeliness_sweep.request.id, chunks=len(chunks))
    group(referral_timeliness_sweep_chunk.si(moment.isoformat(), overdue, escalation, sweep_run=run)
          for overdue, escalation in chunks).apply_async()
    referrals = sum(len(set(overdue) | set(escalation)) for overdue, escalation in chunks)
    return f"queued in {len(chunks)} chunk{pluralize(len(chunks))} ({referrals} referral{pluralize(referrals)})"


@shared_task(ignore_result=True, soft_time_limit=settings.SWEEP_SOFT_TIME_LIMIT, time_limit=settings.SWEEP_TIME_LIMIT)
def referral_timeliness_sweep_chunk(at: str, overdue_ids: list[int], escalation_ids: list[int],
                                    sweep_run: str | None = None) -> dict:
    """One chunk of the timeliness sweep: these referrals' overdue alerts,
    then their escalations, each only if still due. Idempotent: a chunk run
    again (its worker died; acks late) finds what it did already stamped.
    `sweep_run` names the run for its duration (hmis_portal/celery.py)."""
    return services.sweep_timeliness(now=calendar.as_of(at), overdue_ids=overdue_ids,
                                     escalation_ids=escalation_ids)
