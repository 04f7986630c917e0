"""Webhooks: the portal tells other systems what happened (SPEC §5's outbox).

A system admin subscribes a URL to some of the events in `EVENTS`. The
service that makes a decision calls `emit(event=..., subject=..., data=...)`
inside its transaction (a sweep's set-based service calls `emit_many`, one
`INSERT … SELECT`): one `WebhookDelivery` row per subscription to that event,
so the row commits or rolls back with the decision, and each subscription has
its own log, order, backoff and replay. (One event row fanned out at delivery
would save rows when many subscribe, but a subscription paused for a week
would then need its own cursor into the events, and its log and replay would
be a join; a CoC has a handful of subscriptions.)

Nothing is sent in the request: after commit a Celery task delivers (never
blocking the caller: `outbox.publish`), and the periodic job `deliver-webhooks`
sends whatever was not (broker down, receiver down). Each delivery is claimed
with a conditional UPDATE that also checks no earlier delivery of the same
subscription and subject is unfinished, so a subject's events arrive in the
order they happened; a claim whose worker died expires after CLAIM_TIMEOUT.
Each attempt is signed per the Standard Webhooks specification with the
`standardwebhooks` library (`webhook-id` is the delivery's `event_id`, the same
on every attempt and replay). A 2xx is delivered; anything else (a refused
connection, a timeout, a 4xx or 5xx) is tried again with exponential backoff.
After `WEBHOOK_PAUSE_AFTER_FAILURES` failed attempts in a row the subscription
is paused and its owner and the system admins are told by mail; its events
keep being written and go out when it is resumed.

Payloads carry ids, states and links only (`ALLOWED_DATA`): never a client's
data, never a person's name or email.
"""

import base64
import datetime as dt
import ipaddress
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from . import bulk, registry
from .models import WebhookDelivery, WebhookSubscription
from .sealed import Unreadable, seal
from .site import portal_url

log = logging.getLogger(__name__)

Status = WebhookDelivery.Status

# Every event a system can subscribe to, with the words the subscription page shows.
EVENTS = {
    "agreement.executed": "Organization Agreement executed (countersigned)",
    "agreement.returned": "Organization Agreement returned to the agency",
    "agreement.terminated": "Organization Agreement terminated by the CoC",
    "program.setup_confirmed": "Program setup confirmed by the agency",
    "access_request.ready": "HMIS access request ready for provisioning",
    "access_request.granted": "HMIS access granted",
    "hmis_account.inactive": "HMIS account made Inactive",
    "hmis_account.reactivated": "HMIS account reactivated",
    "referral.created": "CES referral created",
    "referral.changed": "CES referral's need status changed",
    "referral.overdue": "CES referral overdue",
    "partnership.accepted": "Data partnership accepted",
    "partnership.ended": "Data partnership ended",
}
# What a payload's `data` may carry: ids, states and links.
ALLOWED_DATA = frozenset({"id", "state", "from_state", "agency_id", "partner_id", "program_id", "link"})

CLAIM_TIMEOUT = dt.timedelta(minutes=2)
# Failed attempts wait 30 s, 1 min, 2 min … up to an hour.
FIRST_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)
BATCH_SIZE = 200
TIME_BUDGET_SECONDS = 240


def _subject_key(event: str, pk) -> str:
    return f"{event.split('.')[0]}:{pk}"


def _check(event: str, names: Iterable[str]) -> None:
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}")
    extra = set(names) - ALLOWED_DATA
    if extra:
        raise ValueError(f"Webhook payloads carry ids, states and links only, not {sorted(extra)}")


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# ---------------------------------------------------------------- emitting


def emit(*, event: str, subject, data: dict) -> int:
    """Record `event` about `subject` (a saved model instance) for every
    subscription to it, in the caller's transaction; delivery follows its
    commit. `data` holds ids, states and links only (`link` a path of the
    portal, made absolute here); `id` is the subject's. Returns how many
    deliveries were written (none when nobody subscribes)."""
    _check(event, data)
    subscriptions = list(WebhookSubscription.objects.filter(event_types__contains=f" {event} ")
                         .values_list("pk", flat=True))
    if not subscriptions:
        return 0
    now = timezone.now()
    body = {"type": event, "timestamp": now.isoformat(),
            "data": {"id": subject.pk, **{k: (portal_url(v) if k == "link" else v) for k, v in data.items()}}}
    event_id = new_event_id()
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(subscription_id=pk, event_id=event_id, event_type=event,
                        subject=_subject_key(event, subject.pk), payload=body, created_at=now, next_attempt_at=now)
        for pk in subscriptions])
    _deliver_after_commit()
    return len(subscriptions)


def emit_many(*, event: str, source: str, key: str, ids: Sequence[int], data: Sequence[tuple[str, object]]) -> int:
    """`emit` for a set-based service: one delivery per id and subscription,
    one `INSERT … SELECT` from `source` (a FROM clause whose `key` column is
    the subject's id). `data`: (name, value or `bulk.Sql` over `source`);
    give `link` as `link_sql(prefix, column, suffix)`."""
    _check(event, [name for name, _ in data])
    if not ids or not WebhookSubscription.objects.filter(event_types__contains=f" {event} ").exists():
        return 0
    written = bulk.insert_webhook_deliveries(
        source=source, key=key, ids=ids, event_type=event, event_prefix=f"{new_event_id()}_",
        subject_prefix=f"{event.split('.')[0]}:", timestamp=timezone.now().isoformat(), data=data)
    if written:
        _deliver_after_commit()
    return written


def link_sql(path_before: str, column: str, path_after: str = "/") -> "bulk.Sql":
    """The absolute link `PORTAL_BASE_URL + path_before + <column> + path_after` in SQL."""
    return bulk.Sql(f"CAST(%s AS TEXT) || CAST({column} AS TEXT) || CAST(%s AS TEXT)",
                    (portal_url(path_before), path_after))


def _deliver_after_commit() -> None:
    from .outbox import after_commit_once

    after_commit_once(queue_delivery)


def queue_delivery() -> bool:
    """Ask a worker to deliver what is due, never blocking the caller."""
    from .outbox import publish
    from .tasks import deliver_webhooks

    return publish(deliver_webhooks)


# ---------------------------------------------------------------- delivery


def _waiting(now: dt.datetime):
    """Deliveries whose time has come, of active subscriptions."""
    return WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now,
                                          subscription__status=WebhookSubscription.Status.ACTIVE)


def _due(now: dt.datetime):
    """Those of them with no earlier event of their subscription and subject unfinished."""
    earlier_unfinished = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"), subject=OuterRef("subject"), pk__lt=OuterRef("pk"),
    ).exclude(status=Status.DELIVERED)
    return _waiting(now).filter(~Exists(earlier_unfinished))


def release_expired_claims(now: dt.datetime) -> int:
    """Deliveries whose worker died mid-send become pending again."""
    return WebhookDelivery.objects.filter(status=Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT).update(
        status=Status.PENDING, claimed_at=None)


def claim(pk: int, now: dt.datetime) -> WebhookDelivery | None:
    if _due(now).filter(pk=pk).update(status=Status.SENDING, claimed_at=now) != 1:
        return None  # delivered, being sent, not due, paused, or waiting for an earlier event of its subject
    return WebhookDelivery.objects.select_related("subscription").get(pk=pk)


def body_of(delivery: WebhookDelivery) -> bytes:
    """The request body: the stored payload, the same bytes on every attempt."""
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def signed_headers(delivery: WebhookDelivery, body: bytes, *, at: dt.datetime | None = None) -> dict:
    # The signing and HTTP clients are imported where a delivery is made:
    # they cost every process's start otherwise, and only the worker sends.
    from standardwebhooks import Webhook

    at = at or timezone.now()
    signature = Webhook(delivery.subscription.signing_secret).sign(msg_id=delivery.event_id, timestamp=at, data=body)
    return {"webhook-id": delivery.event_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature, "content-type": "application/json",
            "user-agent": f"{settings.PORTAL_NAME} webhooks"}


def deliver_pending(*, now: dt.datetime | None = None, batch_size: int | None = None,
                    budget_seconds: float | None = None) -> dict:
    """Deliver what is due, in order per subscription and subject. After a
    failure, a run leaves the rest of that subscription for the next run (the
    receiver is down: each further try would cost a timeout). Returns counts
    and a one-line `summary`; `more` says a run should follow at once."""
    now = now or timezone.now()
    release_expired_claims(now)
    result = {"due": 0, "sent": 0, "failed": 0, "more": False, "summary": ""}
    deadline = time.monotonic() + (TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    failing: set[int] = set()
    import httpx2

    timeout = httpx2.Timeout(settings.WEBHOOK_TIMEOUT, connect=settings.WEBHOOK_CONNECT_TIMEOUT)
    last = 0
    with httpx2.Client(timeout=timeout, follow_redirects=False) as client:
        while True:
            # One pass over what waits, in the order written (keyset on id, so
            # it ends): a delivery whose subject has an earlier event still
            # unfinished is not claimed, and one whose earlier event was just
            # delivered in this pass goes right after it.
            query = _waiting(now).filter(pk__gt=last).exclude(subscription_id__in=failing).order_by("pk")
            rows = list(query.values_list("pk", "subscription_id")[:batch_size or BATCH_SIZE])
            if not rows:
                break
            for pk, subscription_id in rows:
                last = pk
                if subscription_id in failing:
                    continue
                delivery = claim(pk, now)
                if delivery is None:
                    continue
                result["due"] += 1
                if _deliver_one(client, delivery, now):
                    result["sent"] += 1
                else:
                    result["failed"] += 1
                    failing.add(subscription_id)
                if time.monotonic() >= deadline:
                    result["more"] = True
                    result["summary"] = f"{result['sent']} delivered, {result['failed']} failed; more queued"
                    return result
    result["summary"] = f"{result['sent']} delivered, {result['failed']} failed"
    return result


def _deliver_one(client, delivery: WebhookDelivery, now: dt.datetime) -> bool:
    body = body_of(delivery)
    status, error = None, ""
    try:
        headers = signed_headers(delivery, body)
    except Unreadable:
        return _settle(delivery, now, status=None, error="The signing secret cannot be read with this portal's "
                                                         "SECRET_KEY (it was changed without the old key in "
                                                         "SECRET_KEY_FALLBACKS): rotate the secret and give the "
                                                         "receiver the new one.")
    try:
        response = client.post(delivery.subscription.url, content=body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except SoftTimeLimitExceeded:
        _settle(delivery, now, status=None, error="the delivery run ran out of time")
        raise
    except Exception as exc:  # noqa: BLE001 - a receiver down, slow or refusing: tried again later
        error = f"{exc.__class__.__name__}: {exc}"[:2000] if str(exc) else exc.__class__.__name__
    return _settle(delivery, now, status=status, error=error)


def _settle(delivery: WebhookDelivery, now: dt.datetime, *, status: int | None, error: str) -> bool:
    attempts = delivery.attempts + 1
    rows = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.SENDING)
    subscriptions = WebhookSubscription.objects.filter(pk=delivery.subscription_id)
    if not error:
        rows.update(status=Status.DELIVERED, attempts=attempts, last_status=status, last_error="",
                    delivered_at=timezone.now(), claimed_at=None)
        subscriptions.exclude(consecutive_failures=0).update(consecutive_failures=0)
        return True
    wait = min(FIRST_BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)
    rows.update(status=Status.PENDING, attempts=attempts, last_status=status, last_error=error,
                next_attempt_at=now + wait, claimed_at=None)
    subscriptions.update(consecutive_failures=F("consecutive_failures") + 1)
    log.warning("Webhook %s to subscription %s not delivered (attempt %s): %s", delivery.event_id,
                delivery.subscription_id, attempts, error)
    _pause_if_failing(delivery.subscription_id, error)
    return False


def _pause_if_failing(subscription_id: int, error: str) -> None:
    from .audit import record_event
    from .outbox import notify

    limit = max(settings.WEBHOOK_PAUSE_AFTER_FAILURES, 1)
    with transaction.atomic():
        subscription = (WebhookSubscription.objects.select_for_update()
                        .filter(pk=subscription_id, status=WebhookSubscription.Status.ACTIVE,
                                consecutive_failures__gte=limit).first())
        if subscription is None:
            return
        reason = f"{subscription.consecutive_failures} failed attempts in a row; last: {error}"[:500]
        subscription.status = WebhookSubscription.Status.PAUSED
        subscription.paused_at = timezone.now()
        subscription.paused_reason = reason
        subscription.save(update_fields=["status", "paused_at", "paused_reason"])
        record_event(actor=None, subject=subscription, verb="webhook subscription paused",
                     from_state=WebhookSubscription.Status.ACTIVE, to_state=WebhookSubscription.Status.PAUSED,
                     reason=reason)
        recipients = [*([subscription.owner] if subscription.owner else []), *registry.system_admins()]
        notify(recipients=recipients, subject=f"Webhook paused: {subscription.url}",
               body=f"The portal stopped sending webhooks to {subscription.url} after {reason}. Its events are "
                    f"kept and go out in order once it is resumed on the Webhooks page.",
               link=registry.webhooks_page(subscription), dedupe_key=f"webhook-paused:{subscription.pk}:"
                                                                      f"{subscription.paused_at.isoformat()}")


# ---------------------------------------------------------------- system admins' changes


def validate_url(url: str) -> str:
    """A receiver's URL: https, or http to this machine only where
    `WEBHOOK_ALLOW_LOOPBACK_HTTP` (DEBUG, the tests). A ValidationError says why."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError({"url": "Enter a full address starting with https://."})
    if parts.username or parts.password:
        raise ValidationError({"url": "Leave the user name and password out of the address."})
    if parts.scheme == "http":
        loopback = parts.hostname == "localhost"
        try:
            loopback = loopback or ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            pass
        if not (loopback and settings.WEBHOOK_ALLOW_LOOPBACK_HTTP):
            raise ValidationError({"url": "Use an https:// address: webhooks are not sent over plain http."})
    return url


def _clean_events(event_types) -> str:
    chosen = [e for e in EVENTS if e in set(event_types or ())]
    unknown = set(event_types or ()) - set(EVENTS)
    if unknown or not chosen:
        raise ValidationError({"event_types": "Choose at least one of the listed events."})
    return f" {' '.join(chosen)} "


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_subscription_create(*, actor, url: str, event_types, description: str = ""
                                ) -> tuple[WebhookSubscription, str]:
    """A new active subscription; returns it and its signing secret, which
    is shown to the system admin this once."""
    from .inputs import check_single_line

    url = validate_url(url)
    events = _clean_events(event_types)
    check_single_line(description=description)
    secret = new_secret()
    taken = ValidationError({"url": "This receiver is subscribed already: open it on the Webhooks page to "
                                    "pause, resume or delete it."})
    if WebhookSubscription.objects.filter(url=url).exists():
        raise taken
    try:
        with transaction.atomic():
            subscription = _create(actor, url, events, secret, description)
    except IntegrityError:
        raise taken from None  # the same form submitted twice at once: the first made it
    return subscription, secret


def _create(actor, url, events, secret, description) -> WebhookSubscription:
    from .audit import record_event

    subscription = WebhookSubscription.objects.create(owner=actor, url=url, event_types=events, secret=seal(secret),
                                                      description=description.strip()[:200])
    record_event(actor=actor, subject=subscription, verb="webhook subscription created",
                 to_state=subscription.status, data={"events": subscription.events})
    return subscription


def _lock(subscription) -> WebhookSubscription:
    locked = WebhookSubscription.objects.select_for_update().filter(pk=subscription.pk).first()
    if locked is None:
        raise ValidationError("This webhook subscription was deleted.")
    return locked


def webhook_subscription_pause(*, actor, subscription: WebhookSubscription) -> WebhookSubscription:
    return _set_status(actor, subscription, WebhookSubscription.Status.PAUSED, verb="webhook subscription paused")


def webhook_subscription_resume(*, actor, subscription: WebhookSubscription) -> WebhookSubscription:
    """Active again, its failure count cleared; what waited goes out at once, in order."""
    return _set_status(actor, subscription, WebhookSubscription.Status.ACTIVE, verb="webhook subscription resumed")


def _set_status(actor, subscription, to_state, *, verb):
    from .audit import record_event

    with transaction.atomic():
        locked = _lock(subscription)
        if locked.status == to_state:
            raise ValidationError(f"This webhook subscription is already {locked.get_status_display().lower()}.")
        from_state = locked.status
        locked.status = to_state
        locked.consecutive_failures = 0
        locked.paused_at = timezone.now() if to_state == WebhookSubscription.Status.PAUSED else None
        locked.paused_reason = "Paused by a system admin." if to_state == WebhookSubscription.Status.PAUSED else ""
        locked.save(update_fields=["status", "consecutive_failures", "paused_at", "paused_reason"])
        record_event(actor=actor, subject=locked, verb=verb, from_state=from_state, to_state=to_state)
        if to_state == WebhookSubscription.Status.ACTIVE:
            locked.deliveries.filter(status=Status.PENDING).update(next_attempt_at=timezone.now())
            _deliver_after_commit()
    for name in ("status", "consecutive_failures", "paused_at", "paused_reason"):
        setattr(subscription, name, getattr(locked, name))
    return subscription


def webhook_subscription_rotate_secret(*, actor, subscription: WebhookSubscription) -> str:
    """A new signing secret, shown once; the old one stops signing at once."""
    from .audit import record_event

    with transaction.atomic():
        locked = _lock(subscription)
        secret = new_secret()
        locked.secret = seal(secret)
        locked.save(update_fields=["secret"])
        record_event(actor=actor, subject=locked, verb="webhook secret rotated")
    return secret


def webhook_subscription_delete(*, actor, subscription: WebhookSubscription) -> None:
    """The subscription and its delivery log are deleted; the audit keeps that it was."""
    from .audit import record_event

    with transaction.atomic():
        locked = _lock(subscription)
        record_event(actor=actor, subject=locked, verb="webhook subscription deleted", from_state=locked.status,
                     to_state="deleted", data={"url": locked.url})
        locked.delete()


def webhook_delivery_replay(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again, with the same webhook-id and payload, as a new
    attempt: a delivered one once more, one waiting for its backoff now. One
    already due or being sent (a double submit) is refused, changing nothing."""
    from .audit import record_event

    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if locked is None:
            raise ValidationError("This delivery no longer exists.")
        now = timezone.now()
        if locked.status == Status.SENDING or (locked.status == Status.PENDING and locked.next_attempt_at <= now):
            raise ValidationError("This delivery is already waiting to be sent; it goes out with the next run.")
        from_state = locked.status
        locked.status = Status.PENDING
        locked.next_attempt_at = now
        locked.save(update_fields=["status", "next_attempt_at"])
        record_event(actor=actor, subject=locked, verb="webhook replayed", from_state=from_state,
                     to_state=Status.PENDING, data={"event_id": locked.event_id})
        _deliver_after_commit()
    delivery.status, delivery.next_attempt_at = locked.status, locked.next_attempt_at
    return delivery
