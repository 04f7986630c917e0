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
run stops after a few failures in a row and after its time budget. A run
works in chunks: one `UPDATE … RETURNING` claims a chunk of due commands, at
most one per account (the oldest unfinished one: a command is due only while
no earlier command of its account is unfinished, so an account's commands
reach the HMIS in the order they were decided, one at a time). The chunk goes
in SCIM Bulk requests when the HMIS advertises Bulk, else one request per
command; what became of it is written set-based in one transaction. A claim
held by a worker that died expires after CLAIM_TIMEOUT and the command is
sent again.
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
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from . import bulk
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
# At most this many operations go in one Bulk request (fewer if the HMIS
# advertises a lower maxOperations), and a chunk claims this many commands.
BULK_CHUNK = 1000
BATCH_SIZE = BULK_CHUNK
# Without Bulk each command is its own requests: a chunk is kept small, so
# its claims are settled well within CLAIM_TIMEOUT even at the timeouts.
ONE_BY_ONE_CHUNK = 20
TIME_BUDGET_SECONDS = 240
# A run stops after this many transient failures in a row: the HMIS is down
# or hanging, and each further try would cost a timeout.
STOP_AFTER_FAILURES = 3
# Below this many commands that can go in a Bulk request in one chunk, each is
# sent on its own (a (de)activation is read before it is written, so a repeat
# changes nothing and says so); from it on they go in SCIM Bulk requests.
BULK_MIN = 10


def name_parts(full_name: str) -> tuple[str, str]:
    """A person's one-field name as SCIM's givenName and familyName: the first
    word, then the rest (the portal keeps a single name field). Here, not in
    `scim`, so that queueing a command does not load the SCIM libraries."""
    given, _, family = (full_name or "").strip().partition(" ")
    return given, family.strip()


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
    """Claim one command (for a person's or a test's single delivery)."""
    if _due(now).filter(pk=pk).update(status=Status.SENDING, claimed_at=now) != 1:
        return None  # done, being sent, not due, or waiting for an earlier command of its account
    return ProvisioningCommand.objects.get(pk=pk)


# What a chunk's claim returns of each command: what delivering it needs.
CLAIMED = ("id", "subject", "kind", "payload", "attempts", "last_error")


def claim_chunk(now: dt.datetime, size: int) -> list[ProvisioningCommand]:
    """Claim up to `size` due commands with one `UPDATE … RETURNING`, oldest
    first, at most one per account: a command is due only while no earlier
    command of its account is unfinished, so of each account only its oldest
    unfinished command can be in the chunk, and none while another is being
    sent. On PostgreSQL the rows are taken `FOR UPDATE SKIP LOCKED`, so two
    workers claim disjoint chunks; on SQLite a writer has the database."""
    table = ProvisioningCommand._meta.db_table
    due = bulk.Sql(
        f"(status = %s OR (status = %s AND next_attempt_at IS NOT NULL)) AND next_attempt_at <= %s "
        f"AND NOT EXISTS (SELECT 1 FROM {table} earlier WHERE earlier.subject = {table}.subject "
        f"AND earlier.id < {table}.id AND earlier.status <> %s)",
        (Status.PENDING.value, Status.FAILED.value, bulk.moment(now), Status.DONE.value))
    rows = bulk.claim(table, due=due, order="id", size=size, returning=CLAIMED,
                      changes=bulk.Sql("status = %s, claimed_at = %s", (Status.SENDING.value, bulk.moment(now))))
    commands = []
    for pk, subject, kind, payload, attempts, last_error in rows:
        command = ProvisioningCommand(id=pk, subject=subject, kind=kind, attempts=attempts, status=Status.SENDING,
                                      claimed_at=now, last_error=last_error,
                                      payload=json.loads(payload) if isinstance(payload, str | bytes) else payload)
        command._state.adding, command._state.db = False, connection.alias
        commands.append(command)
    return commands


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
        result["summary"] = _deliver(target, now, result, batch_size,
                                     TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    finally:
        if own_target and target is not None:
            target.close()
        cache.delete(slot)
    return result


@dataclass
class _Chunk:
    """The commands of one claimed chunk and what became of each: a Sent or
    the exception it met; a command without an outcome was never tried."""
    commands: list
    outcomes: dict
    failures: int = 0  # transient failures in a row, carried from chunk to chunk
    stopped: bool = False


def _deliver(target, now, result, batch_size, budget_seconds) -> str:
    deadline = time.monotonic() + budget_seconds
    bulk_ops, bulk_bytes = _bulk_limits(target)
    size = min(batch_size or BATCH_SIZE, BULK_CHUNK if bulk_ops else ONE_BY_ONE_CHUNK)
    failures = 0
    while True:
        commands = claim_chunk(now, size)
        if not commands:
            break
        result["due"] += len(commands)
        chunk = _Chunk(commands, {}, failures)
        try:
            _send_chunk(target, chunk, bulk_ops, bulk_bytes)
        finally:
            sent, failed = _record(chunk, now)
            result["sent"] += sent
            result["failed"] += failed
        failures = chunk.failures
        if chunk.stopped:
            return f"{result['sent']} sent; the HMIS is not answering, the rest waits for the next run"
        if time.monotonic() >= deadline:
            result["more"] = True
            return f"{result['sent']} sent; more queued"
    return f"{result['sent']} sent, {result['failed']} not"


def _bulk_limits(target) -> tuple[int, int]:
    """Operations per Bulk request (0: the target has no Bulk) and bytes per
    request (0: no limit given), as the target advertises them."""
    try:
        operations, payload = target.bulk_limits()
    except (Transient, Refused):
        return 0, 0  # one-by-one delivery meets the same failure and backs off
    return (min(operations, BULK_CHUNK) if operations >= BULK_MIN else 0), payload


def _send_chunk(target, chunk: _Chunk, bulk_ops: int, bulk_bytes: int) -> None:
    """Send a chunk: in Bulk requests what can go in them (creates, and
    (de)activations and group changes of users the HMIS is known to have) when
    there are at least BULK_MIN of them, the rest one command at a time. The
    groups a chunk's group changes name are read once for the chunk. Stops
    after STOP_AFTER_FAILURES transient failures in a row (a whole Bulk
    request counts as one), leaving the rest without an outcome (untried:
    pending again)."""
    rest = chunk.commands
    if bulk_ops:
        remote = known_remote_ids({c.subject for c in rest if c.kind != Kind.CREATE})
        pairs, rest = [], []
        for command in chunk.commands:
            remote_id = remote.get(command.subject) or command.payload.get("remote_id", "")
            if command.kind == Kind.CREATE or remote_id:
                pairs.append((command, remote_id))
            else:
                rest.append(command)
        if len(pairs) < BULK_MIN:
            pairs, rest = [], chunk.commands
        groups = _group_changes(target, chunk, [(c, r) for c, r in pairs if c.kind == Kind.SET_GROUP])
        if chunk.stopped:
            return
        pairs = [(c, r) for c, r in pairs if c.pk not in chunk.outcomes]
        for request in _bulk_requests(pairs, bulk_ops, bulk_bytes, groups):
            try:
                answers = target.bulk_execute(request, groups)
            except Exception as exc:  # noqa: BLE001 - the whole request failed: each command is settled alike
                answers = {command.pk: exc for command, _remote_id in request}
            chunk.outcomes.update(answers)
            for answer in answers.values():
                if isinstance(answer, SoftTimeLimitExceeded):
                    raise answer  # the task is out of time: recorded, the rest pending again
            transient = all(isinstance(a, BaseException) and not isinstance(a, Refused) for a in answers.values())
            chunk.failures = chunk.failures + 1 if transient else 0
            if chunk.failures >= STOP_AFTER_FAILURES:
                chunk.stopped = True
                return
    # Sent one at a time, a chunk's commands could take longer than their
    # claims last: past ONE_BY_ONE_CHUNK of them, or half CLAIM_TIMEOUT, the
    # rest go back to the queue untried, for the next chunk.
    started = time.monotonic()
    for command in rest[:ONE_BY_ONE_CHUNK]:
        if time.monotonic() - started > CLAIM_TIMEOUT.total_seconds() / 2:
            return
        try:
            outcome = target.execute(command)
        except Exception as exc:  # noqa: BLE001 - settled in _record: a refusal or a failure, each retried
            outcome = exc
        chunk.outcomes[command.pk] = outcome
        if isinstance(outcome, SoftTimeLimitExceeded):
            raise outcome
        transient = isinstance(outcome, BaseException) and not isinstance(outcome, Refused)
        chunk.failures = chunk.failures + 1 if transient else 0
        if chunk.failures >= STOP_AFTER_FAILURES:
            chunk.stopped = True
            return


def _group_changes(target, chunk: _Chunk, pairs) -> dict:
    """The group operations of the chunk's group changes that go in Bulk
    (`scim.Target.group_changes`); a change with nothing to do, or refused,
    is settled at once. When the groups cannot be read, those commands meet
    that failure, as one transient failure of the run."""
    if not pairs:
        return {}
    try:
        plan = target.group_changes(pairs)
    except Exception as exc:  # noqa: BLE001 - settled in _record, as a Bulk request's failure is
        if isinstance(exc, SoftTimeLimitExceeded):
            raise
        chunk.outcomes.update({command.pk: exc for command, _remote_id in pairs})
        if not isinstance(exc, Refused):
            chunk.failures += 1
            chunk.stopped = chunk.failures >= STOP_AFTER_FAILURES
        return {}
    for command, remote_id in pairs:
        changes = plan[command.pk]
        if isinstance(changes, Refused):
            chunk.outcomes[command.pk] = changes
        elif not changes:
            chunk.outcomes[command.pk] = Sent(remote_id, "unchanged")
    return plan


def _bulk_requests(pairs, operations: int, payload: int, groups: dict | None = None):
    """The (command, user id) pairs cut into Bulk requests of at most
    `operations` operations (a group change is one per group it changes:
    `groups`) and, by a generous estimate of each operation's JSON, at most
    `payload` bytes."""
    budget = int(payload * 0.8) if payload else 0
    request, count, size = [], 0, 0
    for command, remote_id in pairs:
        ops = len(groups[command.pk]) if command.kind == Kind.SET_GROUP else 1
        cost = 300 * ops + (len(json.dumps(command.payload)) * 2 if command.kind == Kind.CREATE else 0)
        if request and (count + ops > operations or (budget and size + cost > budget)):
            yield request
            request, count, size = [], 0, 0
        request.append((command, remote_id))
        count += ops
        size += cost
    if request:
        yield request


def _record(chunk: _Chunk, now: dt.datetime) -> tuple[int, int]:
    """Record what became of a chunk, set-based, in one transaction: one
    UPDATE for the commands delivered, one for those that failed (retried
    with backoff; a refusal shows as failed at once, for a person to Retry), one
    that makes the commands never tried pending again, and their audit
    events in one insert. Returns (sent, failed)."""
    from .models import AuditEvent

    content_type = ContentType.objects.get_for_model(ProvisioningCommand)
    delivered, failed, untried, events = {}, {}, [], []

    def event(command, verb, from_state, to_state, reason="", data=None):
        events.append(AuditEvent(verb=verb, content_type=content_type, object_id=str(command.pk),
                                 object_repr=str(command)[:200], from_state=from_state, to_state=to_state,
                                 reason=reason, data=data or {}))

    errors = []
    for command in chunk.commands:
        outcome = chunk.outcomes.get(command.pk)
        attempts = command.attempts + 1
        if outcome is None:
            untried.append(command.pk)
        elif isinstance(outcome, Refused):
            # Failed at once, for people to see and Retry; still tried again on
            # the backoff (what the HMIS refused may be changed there meanwhile).
            failed[command.pk] = (Status.FAILED, attempts, str(outcome), now + backoff(attempts))
            if attempts == 1 or command.last_error != str(outcome):
                event(command, "refused by the HMIS", Status.SENDING, Status.FAILED, str(outcome)[:2000])
            errors.append((command.pk, str(outcome)))
        elif isinstance(outcome, BaseException):
            given_up = attempts >= MAX_ATTEMPTS
            wait = MAX_BACKOFF if given_up else backoff(attempts)
            error = str(outcome) or outcome.__class__.__name__
            failed[command.pk] = (Status.FAILED if given_up else Status.PENDING, attempts, error, now + wait)
            if attempts == MAX_ATTEMPTS:
                event(command, "failed to reach the HMIS", Status.SENDING, Status.FAILED, error[:2000])
            errors.append((command.pk, error))
        else:
            delivered[command.pk] = outcome.remote_id
            event(command, "sent to the HMIS", Status.PENDING, Status.DONE,
                  data={"result": outcome.note, "remote_id": outcome.remote_id})
    with transaction.atomic():
        if delivered:
            _update_claimed([(pk, remote_id) for pk, remote_id in delivered.items()],
                            bulk.Sql("status = %s, attempts = attempts + 1, last_error = '', claimed_at = NULL, "
                                     "done_at = %s, remote_id = v.column2",
                                     (Status.DONE.value, bulk.moment(timezone.now()))))
        if failed:
            moment = "CAST(v.column5 AS TIMESTAMP WITH TIME ZONE)" if bulk.postgres() else "v.column5"
            _update_claimed([(pk, status.value, attempts, error, bulk.moment(next_at))
                             for pk, (status, attempts, error, next_at) in failed.items()],
                            bulk.Sql(f"status = v.column2, attempts = v.column3, last_error = v.column4, "
                                     f"next_attempt_at = {moment}, claimed_at = NULL"))
        if untried:
            ProvisioningCommand.objects.filter(pk__in=untried, status=Status.SENDING).update(
                status=Status.PENDING, claimed_at=None)
        AuditEvent.objects.bulk_create(events, batch_size=1000)
    if errors:
        pk, error = errors[0]
        log.warning("%s provisioning command%s not delivered (command %s: %s)", len(errors),
                    "s" if len(errors) != 1 else "", pk, error)
    return len(delivered), len(failed)


def _update_claimed(rows: list[tuple], changes: "bulk.Sql") -> None:
    """One UPDATE of claimed commands, each with values of its own: `rows`
    are (id, value, …), which `changes` reads as v.column2, v.column3, …
    (a VALUES list joined by id). A command no longer claimed (its claim
    expired and it went back to the queue) is left as it is."""
    table = ProvisioningCommand._meta.db_table
    values = bulk.values(rows)
    bulk.execute(bulk.Sql(f"UPDATE {table} SET {changes.text} FROM {values.text} v "
                          f"WHERE {table}.id = v.column1 AND {table}.status = %s",
                          (*changes.params, *values.params, Status.SENDING.value)))


def known_remote_ids(subjects) -> dict[str, str]:
    """The HMIS user id of each subject, as its last delivered command found it."""
    subjects = list(subjects)
    found: dict[str, str] = {}
    for start in range(0, len(subjects), 500):
        found.update(ProvisioningCommand.objects.filter(subject__in=subjects[start:start + 500], status=Status.DONE)
                     .exclude(remote_id="").order_by("pk").values_list("subject", "remote_id"))
    return found


def backoff(attempts: int) -> dt.timedelta:
    """How long a command waits after its `attempts`-th failed try: 1, 2, 4 …
    minutes, at most MAX_BACKOFF."""
    return min(dt.timedelta(minutes=2 ** min(max(attempts - 1, 0), 16)), MAX_BACKOFF)


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
