"""The timeliness sweep, set-based (STYLE §5).

Each run handles at most `sweep_batch_size` referrals that became overdue
(the provider is alerted) and as many that reached the escalation margin (the
CES team is alerted and, where the status names a no-response status, the
referral is moved there). Each of the two batches is one transaction:

1. claim (`hmis_portal.core.bulk.claim`): one `UPDATE … RETURNING` over the
   n most late referrals not locked by anyone stamps the batch and says which
   referrals it holds;
2. the audit events and the outbox rows are written with `INSERT … SELECT`
   over the claimed ids (outbox rows `ON CONFLICT (dedupe_key) DO NOTHING`);
   the policy's move is `services.need_status_enter` over the ids of each
   status, the one door every need-status change goes through (its
   transitions, events and messages set-based, one `UPDATE` per deadline);
3. commit, then the new messages go to the workers in one task.

A run can be split into chunks that several workers take at once
(`referrals.tasks.referral_timeliness_sweep` queues them as a group): `plan`
picks the referrals one run would take (the `sweep_batch_size` most late of
each kind) and splits them by ranges of referral id, so a referral's overdue
alert and its escalation are in the same chunk, which does them in that
order, as one run does; each chunk claims its own referrals (`ids`) and
re-checks that they are still due. The chunks together write the same rows
as one run.

Idempotent however it is run: a referral is claimed only while its stamp is
empty, and the outbox's dedupe keys (the same as the per-referral sweep
wrote) keep a message from being queued twice. A run killed half way rolls
its batch back and the next run does it. Two workers at once take disjoint
batches (`SKIP LOCKED`), and a referral someone is moving at that moment is
skipped, not waited for: the next run sees it as it is then.

The statements are the same on PostgreSQL (measured in
`benchmarks/referrals.py`) and SQLite ≥ 3.35 (RETURNING, ON CONFLICT); the
few places they differ are `hmis_portal.core.bulk`'s.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.template.defaultfilters import pluralize

from hmis_portal.core import bulk, outbox
from hmis_portal.core.bulk import Sql

from . import services
from .models import NeedStatus, Referral, ReferralPolicy

REFERRAL = Referral._meta.db_table


@dataclass
class _Claimed:
    id: int
    program_id: int
    status_id: int


class TimelinessSweep:
    """One run of the sweep as of `now`. What every batch needs is read once
    per run (`services.Reads`): the need statuses, the programs' names and
    agencies, who to alert, the link to a referral."""

    def __init__(self, *, now: dt.datetime, policy: ReferralPolicy | None = None):
        self.now = now
        self.reads = services.Reads(policy=policy)
        self.policy = self.reads.policy
        self.statuses = {s.pk: s for s in NeedStatus.objects.all()}

    # --- one batch of each kind -----------------------------------------------

    def claim(self, *, stamp: str, deadline: str, size: int, ids: list[int] | None = None) -> list[_Claimed]:
        """Stamp up to `size` open referrals whose `deadline` passed and whose
        `stamp` is empty, most late first, and return them (`bulk.claim`: a
        referral someone is changing right now is left for the next run).
        The partial indexes `referral_overdue_unnotified` and
        `referral_escalation_pending` serve the selection. `ids`: a chunk's
        referrals (see `plan`), the only ones it may take."""
        due = Sql(f"is_open AND {stamp} IS NULL AND {deadline} <= %s", (bulk.moment(self.now),))
        if ids is not None:
            if not ids:
                return []
            due = bulk.all_of(due, bulk.among("id", ids))
        rows = bulk.claim(REFERRAL, due=due, order=f"{deadline}, id", size=size,
                          changes=Sql(f"{stamp} = %s", (bulk.moment(self.now),)),
                          returning=("id", "program_id", "status_id"))
        return [_Claimed(*row) for row in rows]

    def overdue(self, size: int, ids: list[int] | None = None) -> int:
        with transaction.atomic():
            claimed = self.claim(stamp="overdue_notified_at", deadline="due_at", size=size, ids=ids)
            if not claimed:
                return 0
            ids = [c.id for c in claimed]
            services.record_referral_events(ids=ids, verb="became overdue", reads=self.reads)
            programs = self.reads.programs({c.program_id for c in claimed})
            texts = []
            for program_id, status_id in sorted({(c.program_id, c.status_id) for c in claimed}):
                program, status = programs[program_id], self.statuses[status_id]
                texts.append((program_id, status_id, program.organization_id,
                              f"Overdue CES referral: {program.name}",
                              f"A referral to {program.name} has been in “{status}” past its timeliness standard "
                              f"({status.standard_label().lower()}). Update its need status."))
            recipients = self.reads.provider_staff(sorted({programs[c.program_id].organization_id for c in claimed}))
            services.tell_about_referrals(ids=ids, texts=texts, recipients=recipients, reads=self.reads, key="referral-overdue")
            services.tell_systems_about_referrals(ids=ids, event="referral.overdue", reads=self.reads)
        return len(claimed)

    def escalate(self, size: int, ids: list[int] | None = None) -> tuple[int, int]:
        margin = self.policy.escalation_margin_days
        with transaction.atomic():
            claimed = self.claim(stamp="escalated_at", deadline="escalate_at", size=size, ids=ids)
            if not claimed:
                return 0, 0
            ids = [c.id for c in claimed]
            services.record_referral_events(ids=ids, verb="escalated to the CES team", reads=self.reads)
            programs = self.reads.programs({c.program_id for c in claimed})
            texts = []
            for program_id, status_id in sorted({(c.program_id, c.status_id) for c in claimed}):
                status = self.statuses[status_id]
                move_to = self.statuses.get(status.no_response_status_id)
                texts.append((program_id, status_id, 0,
                              f"Escalated: referral {{id}} overdue at {programs[program_id]}",
                              f"The referral has been in “{status}” {margin} business day{pluralize(margin)} past its standard."
                              + (f" It was moved to “{move_to}”; re-refer the client." if move_to else "")))
            # The batch's messages go to the workers in one task.
            new = []
            services.tell_about_referrals(ids=ids, texts=texts, recipients=self.reads.ces_team(), reads=self.reads,
                                          key="referral-escalated", messages=new)
            moved = 0
            by_status = {}
            for c in claimed:
                by_status.setdefault(c.status_id, []).append(c.id)
            for status_id, group in sorted(by_status.items()):
                status = self.statuses[status_id]
                move_to = self.statuses.get(status.no_response_status_id)
                if move_to is not None:
                    # The policy's move for referrals whose provider did not
                    # respond, through the one door for a need-status change.
                    services.need_status_enter(
                        referrals=group, to_status=move_to, actor=None, at=self.now, reads=self.reads,
                        messages=new, note=(f"The provider did not respond within the standard for “{status}” "
                                            f"and the escalation margin."))
                    moved += len(group)
            outbox.deliver_after_commit(new)
        return len(claimed), moved


def sweep_timeliness(*, now: dt.datetime, overdue_ids: list[int] | None = None,
                     escalation_ids: list[int] | None = None) -> dict:
    """One run: a batch of overdue alerts, then a batch of escalations. With
    ids (a chunk of `plan`): only those referrals, each if still due."""
    run = TimelinessSweep(now=now)
    size = run.policy.sweep_batch_size
    overdue = run.overdue(size, overdue_ids)
    escalated, moved = run.escalate(size, escalation_ids)
    return {"overdue": overdue, "escalated": escalated, "moved": moved}


def _due(stamp: str, deadline: str, now: dt.datetime, size: int) -> list[int]:
    """The referrals a run's claim of this kind would take (read, not locked)."""
    return [row[0] for row in bulk.execute(
        f"SELECT id FROM {REFERRAL} WHERE is_open AND {stamp} IS NULL AND {deadline} <= %s "
        f"ORDER BY {deadline}, id LIMIT %s", [bulk.moment(now), size])]


def plan(*, now: dt.datetime, parts: int) -> list[tuple[list[int], list[int]]]:
    """The referrals one run would act on, split into up to `parts` chunks of
    (overdue ids, escalation ids) over ranges of referral id: a referral
    whose alert and escalation are both due has both in one chunk."""
    size = ReferralPolicy.current().sweep_batch_size
    overdue = _due("overdue_notified_at", "due_at", now, size)
    escalation = _due("escalated_at", "escalate_at", now, size)
    ids = sorted(set(overdue) | set(escalation))
    if not ids:
        return []
    width = -(-len(ids) // max(1, parts))
    chunks = []
    for start in range(0, len(ids), width):
        part = set(ids[start:start + width])
        chunks.append(([pk for pk in overdue if pk in part], [pk for pk in escalation if pk in part]))
    return chunks

