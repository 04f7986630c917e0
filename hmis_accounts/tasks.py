"""Celery entry points for HMIS accounts (seed 002): thin, each calls a service
or the sweep."""

from celery import group, shared_task
from django.conf import settings
from django.template.defaultfilters import pluralize

from hmis_portal.core import metrics
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
    if hmis_inactivity_sweep.app.conf.task_always_eager:
        done = SweepResult()
        chunks = group(hmis_inactivity_sweep_chunk.si(moment, first, last) for first, last in ranges)
        for counts in chunks.apply().get():
            done += SweepResult(**counts)
        return done.summary()
    # Timed from the first chunk's start to the last one's end, wherever they run.
    run = metrics.hand_out_chunks(task_name=hmis_inactivity_sweep.name, task_id=hmis_inactivity_sweep.request.id,
                                  chunks=len(ranges))
    group(hmis_inactivity_sweep_chunk.si(moment, first, last, sweep_run=run) for first, last in ranges).apply_async()
    return f"queued in {len(ranges)} chunk{pluralize(len(ranges))} (accounts {ranges[0][0]} to {ranges[-1][1]})"


@shared_task(ignore_result=True, soft_time_limit=settings.SWEEP_SOFT_TIME_LIMIT, time_limit=settings.SWEEP_TIME_LIMIT)
def hmis_inactivity_sweep_chunk(at: str, first_id: int, last_id: int, sweep_run: str | None = None) -> dict:
    """One chunk of the inactivity sweep: the accounts with ids first..last.
    Idempotent: a chunk whose worker died is run again (acks late) and
    finishes what is left; two workers on the same chunk take disjoint rows.
    `sweep_run` names the run for its duration (hmis_portal/celery.py)."""
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


@shared_task(ignore_result=True)
def hmis_reconciliation(at: str | None = None) -> str:
    """Nightly: compare the HMIS's users with the portal's HMIS accounts (SCIM),
    queue what corrects the drift, and tell provisioning staff of users active
    in the HMIS whom the portal has Inactive or does not know (the dangerous
    kind). Once a day: the message is keyed by the day, so a re-run tells
    nobody twice. With no provisioning target, nothing to do."""
    from django.urls import reverse

    from accounts.access import provisioning_staff
    from hmis_portal.core import provisioning, scim
    from hmis_portal.core.calendar import local_date
    from hmis_portal.core.outbox import notify

    from .selectors import hmis_directory

    if not provisioning.enabled():
        return "no HMIS provisioning target configured"
    directory = hmis_directory()
    try:
        report = scim.sync(directory.accounts, managed_groups=directory.managed_groups,
                           deactivate_unknown=directory.deactivate_unknown)
    except (provisioning.Transient, provisioning.Refused) as exc:
        return f"cannot read the HMIS: {exc}"
    dangerous = [d for d in report.drifts if d.kind in (scim.ACTIVE_NOT_IN_PORTAL, scim.ACTIVE_INACTIVE_IN_PORTAL)]
    if dangerous:
        day = local_date(as_of(at))
        names = ", ".join(sorted(d.user_name for d in dangerous)[:50])
        notify(recipients=provisioning_staff(), dedupe_key=f"hmis-drift:{day.isoformat()}",
               subject=f"{len(dangerous)} HMIS user{pluralize(len(dangerous))} active without portal access",
               body=(f"The nightly check found HMIS users who are active in the HMIS but Inactive or unknown in "
                     f"the portal: {names}. Accounts the portal knows were set back to inactive; check any the "
                     "portal does not know in the HMIS."),
               link=reverse("hmis-provisioning"))
    return f"{len(report.drifts)} drifted ({len(dangerous)} active without portal access); {report.queued} queued"
