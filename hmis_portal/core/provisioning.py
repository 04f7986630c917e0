"""The HMIS provisioning outbox (SPEC §5): every decision about an HMIS
account that the HMIS must know reaches it through one queue.

The functions that queue (`provision_create`, `provision_active`,
`provision_group`, and `provision_many` for a sweep) write rows in the
caller's transaction and make no HTTP call; the rows are delivered after
commit by a Celery task, and by the periodic delivery job whatever was not
delivered then (broker down, HMIS down). With no HMIS target configured
(`settings.HMIS_SCIM_URL` unset) they write nothing: provisioning stays manual.

Delivery (`deliver_pending`) is bounded: at most `HMIS_SCIM_CONCURRENCY` runs
talk to the HMIS at once, every request gives up after `HMIS_SCIM_TIMEOUT`, a
run stops after a few failures in a row and after its time budget. Each
command is claimed with a conditional UPDATE that also checks no earlier
command of the same account is unfinished, so an account's commands reach the
HMIS in the order they were decided; a claim held by a worker that died
expires after CLAIM_TIMEOUT and the command is sent again.
"""

import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from .models import ProvisioningCommand

log = logging.getLogger(__name__)

Kind = ProvisioningCommand.Kind
Status = ProvisioningCommand.Status

# The delivery task, by name: the core queues it without importing it.
DELIVERY_TASK = "hmis_portal.core.tasks.deliver_provisioning"
# A worker that claimed a command and died is presumed gone after this long:
# well over one command's requests at their timeouts.
CLAIM_TIMEOUT = dt.timedelta(minutes=2)
# Transient failures (HMIS down, timeouts, 5xx) back off 1, 2, 4 … minutes up
# to an hour; after MAX_ATTEMPTS the command shows as failed but is still tried
# hourly, for a deactivation must never be dropped. A refusal (a 4xx) shows as
# failed at once and is tried again on the same backoff; "Retry" starts the
# count again and sends it now.
MAX_ATTEMPTS = 8
MAX_BACKOFF = dt.timedelta(hours=1)
BATCH_SIZE = 200
TIME_BUDGET_SECONDS = 240
# A run stops after this many transient failures in a row: the HMIS is down
# or hanging, and each further try would cost a timeout.
STOP_AFTER_FAILURES = 3
# Below this many (de)activations in one pass, each is read before it is
# written (a repeat changes nothing); from it on they go in SCIM Bulk requests.
BULK_MIN = 10


def enabled() -> bool:
    """A provisioning target is configured."""
    return bool(settings.HMIS_SCIM_URL)


# ---------------------------------------------------------------- queueing


def provision_create(*, account_id, user_name: str, given_name: str = "", family_name: str = "", email: str = "",
                     agency: str = "", active: bool = True, group: str | None = None,
                     managed_groups: Iterable[str] = (), dedupe: bool = True) -> int:
    """Queue the creation of an account's user in the HMIS (linked to an
    existing user of the same userName or externalId if there is one), then,
    with `group`, its role group. Once per account: a second grant at the same
    moment, or a repeat, queues nothing (unless `dedupe=False`, which the
    reconciliation uses for a user someone deleted in the HMIS). Returns how
    many commands were queued."""
    if not enabled():
        return 0
    payload = {"user_name": user_name, "given_name": given_name, "family_name": family_name, "email": email,
               "agency": agency, "active": bool(active)}
    queued = _insert(account_id, Kind.CREATE, payload, dedupe_key=f"create:{account_id}" if dedupe else None)
    if queued and group is not None:
        queued += provision_group(account_id=account_id, group=group, managed_groups=managed_groups)
    return queued


def provision_active(*, account_id, active: bool) -> int:
    """Queue `active=true` (reactivation) or `active=false` (Inactive, agency
    membership ended, agreement expired, departure) for one account."""
    if not enabled():
        return 0
    return _insert(account_id, Kind.ACTIVATE if active else Kind.DEACTIVATE, {"active": bool(active)})


def provision_group(*, account_id, group: str, managed_groups: Iterable[str]) -> int:
    """Queue the account's role group: the user ends up a member of `group`
    (none when empty) and of no other group of `managed_groups` (every group
    the role mapping names; groups outside it are the HMIS's own)."""
    if not enabled():
        return 0
    managed = sorted({*managed_groups, *([group] if group else [])})
    return _insert(account_id, Kind.SET_GROUP, {"group": group or "", "managed_groups": managed})


def provision_many(accounts, *, active: bool, account_id: str = "pk", dedupe_prefix: str | None = None) -> int:
    """Set-based `provision_active` for a sweep: one INSERT … SELECT of a
    command per account of the queryset `accounts`, in the caller's
    transaction, and one delivery task after commit. `account_id` names the
    field holding the account id. With `dedupe_prefix`, a command keyed
    prefix + id is written at most once (a sweep run again the same day).
    Returns how many commands were written."""
    if not enabled():
        return 0
    select, params = (accounts.order_by().annotate(provisioning_subject=F(account_id))
                      .values_list("provisioning_subject").query.sql_with_params())
    table = ProvisioningCommand._meta.db_table
    payload = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    key = "%s || CAST(q.provisioning_subject AS VARCHAR(64))" if dedupe_prefix else "NULL"
    now = timezone.now()
    sql = (f"INSERT INTO {table} (subject, kind, payload, dedupe_key, status, attempts, next_attempt_at, "
           f"claimed_at, last_error, remote_id, created_at, done_at) "
           f"SELECT CAST(q.provisioning_subject AS VARCHAR(64)), %s, {payload}, {key}, %s, 0, %s, NULL, '', '', "
           f"%s, NULL FROM ({select}) q WHERE 1 = 1 "
           f"{'ON CONFLICT (dedupe_key) DO NOTHING' if dedupe_prefix else ''}")
    values = [Kind.ACTIVATE if active else Kind.DEACTIVATE, json.dumps({"active": bool(active)}),
              *([dedupe_prefix] if dedupe_prefix else []), Status.PENDING, now, now, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        written = max(cursor.rowcount, 0)
    if written:
        _deliver_after_commit()
    return written


def _insert(account_id, kind: str, payload: dict, *, dedupe_key: str | None = None) -> int:
    now = timezone.now()
    row = ProvisioningCommand(subject=str(account_id), kind=kind, payload=payload, dedupe_key=dedupe_key,
                              created_at=now, next_attempt_at=now)
    if dedupe_key is None:
        row.save()
    else:
        # ON CONFLICT DO NOTHING: a concurrent transaction writing the same
        # key waits for the first and then writes nothing.
        ProvisioningCommand.objects.bulk_create([row], ignore_conflicts=True)
        if not ProvisioningCommand.objects.filter(dedupe_key=dedupe_key, created_at=now).exists():
            return 0
    _deliver_after_commit()
    return 1


def _deliver_after_commit() -> None:
    from .outbox import after_commit_once

    after_commit_once(queue_delivery)


def queue_delivery() -> bool:
    """Ask a worker to deliver what is due, never blocking the caller."""
    from .outbox import publish
    from .tasks import deliver_provisioning

    return publish(deliver_provisioning)


# ---------------------------------------------------------------- delivery


class Transient(Exception):
    """The HMIS could not be reached or failed (timeout, refused connection,
    5xx): the command is tried again later."""


class Refused(Exception):
    """The HMIS refused the command (a 4xx other than 409): only a person can
    resolve it, so it waits, failed, for "Retry"."""


@dataclass(frozen=True)
class Sent:
    remote_id: str
    note: str  # what happened, for the audit: "created", "linked", "unchanged", …


def pending_for(subjects: Iterable) -> set[str]:
    """The subjects among `subjects` with a command not yet done."""
    subjects = [str(s) for s in subjects]
    found = set()
    for start in range(0, len(subjects), 500):
        found.update(ProvisioningCommand.objects.filter(subject__in=subjects[start:start + 500])
                     .exclude(status=Status.DONE).values_list("subject", flat=True))
    return found


def known_remote_id(subject: str) -> str:
    """The HMIS user id the last delivered command of the subject found."""
    return (ProvisioningCommand.objects.filter(subject=subject, status=Status.DONE).exclude(remote_id="")
            .order_by("-pk").values_list("remote_id", flat=True).first() or "")


def _due(now: dt.datetime):
    earlier_unfinished = ProvisioningCommand.objects.filter(
        subject=OuterRef("subject"), pk__lt=OuterRef("pk")).exclude(status=Status.DONE)
    return ProvisioningCommand.objects.filter(
        Q(status=Status.PENDING) | Q(status=Status.FAILED, next_attempt_at__isnull=False),
        next_attempt_at__lte=now,
    ).filter(~Exists(earlier_unfinished))


def release_expired_claims(now: dt.datetime) -> int:
    """Commands whose worker died mid-delivery become pending again."""
    return ProvisioningCommand.objects.filter(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT).update(
        status=Status.PENDING, claimed_at=None)


def claim(pk: int, now: dt.datetime) -> ProvisioningCommand | None:
    if _due(now).filter(pk=pk).update(status=Status.SENDING, claimed_at=now) != 1:
        return None  # done, being sent, not due, or waiting for an earlier command of its account
    return ProvisioningCommand.objects.get(pk=pk)


def deliver_pending(*, now: dt.datetime | None = None, batch_size: int | None = None,
                    budget_seconds: float | None = None, target=None) -> dict:
    """Deliver the commands that are due, in order per account. Returns counts
    and a one-line `summary`; `more` says a run should follow at once."""
    from . import scim

    result = {"due": 0, "sent": 0, "failed": 0, "more": False, "summary": ""}
    if not enabled() and target is None:
        result["summary"] = "no HMIS provisioning target configured"
        return result
    now = now or timezone.now()
    release_expired_claims(now)
    if not _due(now).exists():
        result["summary"] = "nothing due"
        return result
    slot = _take_slot()
    if slot is None:
        result["summary"] = "delivery already running at its concurrency limit"
        return result
    own_target = target is None
    try:
        target = target or scim.Target.from_settings()
        result["summary"] = _deliver(target, now, result, batch_size or BATCH_SIZE,
                                     TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    finally:
        if own_target and target is not None:
            target.close()
        cache.delete(slot)
    return result


def _deliver(target, now, result, batch_size, budget_seconds) -> str:
    deadline = time.monotonic() + budget_seconds
    failures = 0
    while True:
        # Each pass sends a command or pushes its next attempt past `now`, and
        # a sent command frees the next of its account for the next pass. A
        # pass holds at most one command per account (the earliest unfinished).
        ids = list(_due(now).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        result["due"] += len(ids)
        outcomes, ids = _deliver_in_bulk(target, ids, now)
        for outcome in _one_by_one(target, ids, now, outcomes):
            result["sent"] += outcome == "sent"
            result["failed"] += outcome != "sent"
            failures = failures + 1 if outcome == "transient" else 0
            if failures >= STOP_AFTER_FAILURES:
                return f"{result['sent']} sent; the HMIS is not answering, the rest waits for the next run"
        if time.monotonic() >= deadline:
            result["more"] = True
            return f"{result['sent']} sent; more queued"
    return f"{result['sent']} sent, {result['failed']} not"


def _one_by_one(target, ids, now, outcomes):
    """The outcomes already known, then each command's as it is sent: the
    caller stops at the first run of failures, leaving the rest unclaimed."""
    yield from outcomes
    for pk in ids:
        command = claim(pk, now)
        if command is not None:
            yield _deliver_one(target, command, now)


def _deliver_in_bulk(target, ids, now) -> tuple[list[str], list[int]]:
    """A sweep's burst of (de)activations of users the HMIS already has goes
    in SCIM Bulk requests (RFC 7644 §3.7) when the HMIS advertises Bulk and
    there are at least BULK_MIN of them. Returns the outcomes of those sent
    and the ids left for one-by-one delivery."""
    try:
        limit = target.bulk_limit()
    except (Transient, Refused):
        return [], ids  # one-by-one delivery meets the same failure and backs off
    if limit < BULK_MIN:
        return [], ids
    rows = dict(ProvisioningCommand.objects.filter(pk__in=ids, kind__in=[Kind.ACTIVATE, Kind.DEACTIVATE])
                .values_list("pk", "subject"))
    remote = known_remote_ids(rows.values())
    candidates = [pk for pk in ids if remote.get(rows.get(pk))]
    if len(candidates) < BULK_MIN:
        return [], ids
    outcomes = []
    for start in range(0, len(candidates), limit):
        claimed = [c for c in (claim(pk, now) for pk in candidates[start:start + limit]) if c is not None]
        if not claimed:
            continue
        try:
            answers = target.bulk_set_active([(c, remote[c.subject]) for c in claimed])
        except Exception as exc:  # noqa: BLE001 - the whole request failed: each command is settled alike
            answers = {c.pk: exc for c in claimed}
        outcomes.extend(_settle(c, answers[c.pk], now) for c in claimed)
        if any(isinstance(a, SoftTimeLimitExceeded) for a in answers.values()):
            raise next(a for a in answers.values() if isinstance(a, SoftTimeLimitExceeded))
    chosen = set(candidates)
    return outcomes, [pk for pk in ids if pk not in chosen]


def known_remote_ids(subjects) -> dict[str, str]:
    """The HMIS user id of each subject, as its last delivered command found it."""
    subjects = list(subjects)
    found: dict[str, str] = {}
    for start in range(0, len(subjects), 500):
        found.update(ProvisioningCommand.objects.filter(subject__in=subjects[start:start + 500], status=Status.DONE)
                     .exclude(remote_id="").order_by("pk").values_list("subject", "remote_id"))
    return found


def _deliver_one(target, command: ProvisioningCommand, now: dt.datetime) -> str:
    try:
        outcome = target.execute(command)
    except Exception as exc:  # noqa: BLE001 - settled below: Refused waits for a person, anything else is retried
        outcome = exc
    settled = _settle(command, outcome, now)
    if isinstance(outcome, SoftTimeLimitExceeded):
        raise outcome  # the task is out of time: the command is pending again, stop here
    return settled


def _settle(command: ProvisioningCommand, outcome, now: dt.datetime) -> str:
    """Record what became of a claimed command: "sent", "refused" or "transient"."""
    from .audit import record_event

    attempts = command.attempts + 1
    if isinstance(outcome, Refused):
        # Failed at once, for people to see and Retry; still tried again on
        # the backoff (what the HMIS refused may be changed there meanwhile).
        _finish(command, status=Status.FAILED, attempts=attempts, last_error=str(outcome),
                next_attempt_at=now + backoff(attempts))
        if attempts == 1 or command.last_error != str(outcome):
            record_event(actor=None, subject=command, verb="refused by the HMIS", from_state=Status.SENDING,
                         to_state=Status.FAILED, reason=str(outcome)[:2000])
        log.warning("HMIS refused provisioning command %s: %s", command.pk, outcome)
        return "refused"
    if isinstance(outcome, BaseException):
        failed = attempts >= MAX_ATTEMPTS
        wait = MAX_BACKOFF if failed else backoff(attempts)
        error = str(outcome) or outcome.__class__.__name__
        _finish(command, status=Status.FAILED if failed else Status.PENDING, attempts=attempts,
                last_error=error, next_attempt_at=now + wait)
        if attempts == MAX_ATTEMPTS:
            record_event(actor=None, subject=command, verb="failed to reach the HMIS", from_state=Status.SENDING,
                         to_state=Status.FAILED, reason=error[:2000])
        log.warning("Provisioning command %s not delivered (attempt %s): %s", command.pk, attempts, error)
        return "transient"
    _finish(command, status=Status.DONE, attempts=attempts, last_error="", remote_id=outcome.remote_id,
            done_at=timezone.now())
    record_event(actor=None, subject=command, verb="sent to the HMIS", from_state=Status.PENDING,
                 to_state=Status.DONE, data={"result": outcome.note, "remote_id": outcome.remote_id})
    return "sent"


def backoff(attempts: int) -> dt.timedelta:
    """How long a command waits after its `attempts`-th failed try: 1, 2, 4 …
    minutes, at most MAX_BACKOFF."""
    return min(dt.timedelta(minutes=2 ** min(max(attempts - 1, 0), 16)), MAX_BACKOFF)


def _finish(command, **fields) -> None:
    ProvisioningCommand.objects.filter(pk=command.pk, status=Status.SENDING).update(claimed_at=None, **fields)


def _take_slot() -> str | None:
    """One of HMIS_SCIM_CONCURRENCY slots, in the shared cache; it lapses by
    itself if its holder dies."""
    for index in range(max(settings.HMIS_SCIM_CONCURRENCY, 1)):
        key = f"hmis-provisioning-slot:{index}"
        if cache.add(key, secrets.token_hex(8), timeout=TIME_BUDGET_SECONDS + 60):
            return key
    return None


# ---------------------------------------------------------------- staff


def command_retry(*, actor, ids) -> int:
    """Provisioning staff's "Retry": failed commands are due again now, their
    attempts counted afresh (the backoff starts over), audited, and delivery
    is queued. Returns how many."""
    from .audit import record_event

    now = timezone.now()
    with transaction.atomic():
        rows = list(ProvisioningCommand.objects.select_for_update()
                    .filter(pk__in=list(ids), status=Status.FAILED).order_by("pk"))
        for row in rows:
            record_event(actor=actor, subject=row, verb="provisioning retried", from_state=row.status,
                         to_state=Status.PENDING, reason=row.last_error[:2000])
        ProvisioningCommand.objects.filter(pk__in=[row.pk for row in rows], status=Status.FAILED).update(
            status=Status.PENDING, attempts=0, next_attempt_at=now, claimed_at=None)
        if rows:
            _deliver_after_commit()
    return len(rows)


def subject_retry(*, actor, subject, about=None) -> int:
    """"Retry" for one account: its failed commands are due again now
    (`command_retry`, audited on each command), and, with `about` (the
    account), one event on it for its history. A second submit finds nothing
    failed and changes nothing. Returns how many commands were retried."""
    from .audit import record_event

    with transaction.atomic():
        ids = list(ProvisioningCommand.objects.filter(subject=str(subject), status=Status.FAILED)
                   .values_list("pk", flat=True))
        retried = command_retry(actor=actor, ids=ids) if ids else 0
        if retried and about is not None:
            record_event(actor=actor, subject=about, verb="HMIS provisioning retried", from_state=Status.FAILED,
                         to_state=Status.PENDING, reason=f"{retried} command{'s' if retried != 1 else ''}")
    return retried


def unsynced_subjects(*, limit: int | None = None) -> list[str]:
    """The subjects with a command not yet done (pending, being sent or
    failed), oldest first: the accounts the HMIS does not yet reflect."""
    rows = (ProvisioningCommand.objects.exclude(status=Status.DONE).values("subject")
            .annotate(first=Min("pk")).order_by("first").values_list("subject", flat=True))
    return list(rows[:limit] if limit else rows)


@dataclass(frozen=True)
class SubjectState:
    """Where an account stands in the HMIS, for its page and the queue."""
    status: str  # "synced", "pending" or "failed"
    at: dt.datetime | None  # last delivery (synced) or when queued (pending, failed)
    error: str = ""
    next_try: dt.datetime | None = None  # when it is tried again by itself (failed, pending after a failure)


def subject_states(subjects: Iterable) -> dict[str, SubjectState]:
    """The HMIS state of each account: failed if a command failed, pending if
    one waits, synced (with when) if all were delivered. Accounts never
    provisioned are absent. One query per 500 accounts."""
    subjects = [str(s) for s in subjects]
    states: dict[str, SubjectState] = {}
    for start in range(0, len(subjects), 500):
        rows = (ProvisioningCommand.objects.filter(subject__in=subjects[start:start + 500])
                .order_by("subject", "pk").values_list("subject", "status", "created_at", "done_at", "last_error",
                                                       "next_attempt_at"))
        for subject, status, created_at, done_at, error, next_try in rows:
            current = states.get(subject)
            if current is not None and current.status == "failed":
                continue
            if status == Status.FAILED:
                states[subject] = SubjectState("failed", created_at, error, next_try)
            elif status in (Status.PENDING, Status.SENDING):
                if current is None or current.status != "pending":
                    states[subject] = SubjectState("pending", created_at, error,
                                                   next_try if error and status == Status.PENDING else None)
            elif current is None or current.status == "synced":
                states[subject] = SubjectState("synced", done_at)
    return states
