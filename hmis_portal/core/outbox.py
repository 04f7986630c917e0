"""The notification outbox (SPEC §5).

`notify` writes one `Notification` row per recipient inside the caller's
transaction and asks Celery to deliver it once that transaction commits. If
the broker is unreachable then, the row simply stays pending: the periodic
`deliver_pending_notifications` job sends it when the broker is back. Each
delivery claims its row with a conditional UPDATE (healthchecks' pattern), so
two workers, or a retry racing the first attempt, send a message once.
"""

import contextlib
import contextvars
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Notification

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A worker that claimed a message and died is presumed gone after this long.
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
# Set while messages are written but not handed to Celery (see `held`).
_holding = contextvars.ContextVar("outbox_holding", default=False)


@contextlib.contextmanager
def held():
    """Write messages without queuing their delivery: they stay pending and go
    out with the next `deliver_pending` run. Demo seeding uses it so that
    `make run` does not print hundreds of demo emails before the logins."""
    token = _holding.set(True)
    try:
        yield
    finally:
        _holding.reset(token)


def notify(*, recipients: Iterable, subject: str, body: str, link: str = "", dedupe_key: str | None = None
           ) -> list[Notification]:
    """Queue one message to each recipient (users, or plain email addresses).

    With `dedupe_key`, each recipient's message is written at most once ever
    (the key is suffixed per recipient), which makes scheduled reminders
    idempotent across re-runs.
    """
    created = []
    seen = set()
    for recipient in recipients:
        user = None if isinstance(recipient, str) else recipient
        email = recipient if user is None else user.email
        if not email or email in seen:
            continue
        seen.add(email)
        key = f"{dedupe_key}:{email}" if dedupe_key else None
        if key and Notification.objects.filter(dedupe_key=key).exists():
            continue
        full_link = f"{settings.PORTAL_BASE_URL.rstrip('/')}{link}" if link.startswith("/") else link
        message = Notification(
            recipient=user,
            to_email=email,
            subject=subject[:200],
            body=f"{body}\n\n{full_link}".rstrip() if full_link else body,
            link=link,
            dedupe_key=key,
        )
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            # A concurrent run of the same job queued it first.
            continue
        created.append(message)
        if not _holding.get():
            transaction.on_commit(lambda pk=message.pk: _queue_delivery(pk))
    return created


def _queue_delivery(notification_id: int) -> None:
    from .tasks import deliver_notification

    try:
        deliver_notification.apply_async((notification_id,), retry=False)
    except Exception:  # noqa: BLE001 - any broker failure leaves the row pending
        log.warning("Broker unreachable; notification %s stays pending for the delivery job", notification_id,
                    exc_info=True)


@dataclass(frozen=True)
class Message:
    recipient: object  # a User
    subject: str
    body: str
    link: str
    dedupe_key: str


def notify_many(messages: Iterable[Message]) -> int:
    """`notify` for a sweep's batch: one insert for many messages, each with a
    dedupe key (unique in the outbox), so a re-run queues nothing twice.
    Returns how many were new. Call inside the transaction that causes them."""
    base = settings.PORTAL_BASE_URL.rstrip("/")
    stamp = timezone.now()
    rows, keys = [], []
    for message in messages:
        email = message.recipient.email
        if not email:
            continue
        key = f"{message.dedupe_key}:{email}"[:200]
        full_link = f"{base}{message.link}" if message.link.startswith("/") else message.link
        rows.append(Notification(
            recipient=message.recipient, to_email=email, subject=message.subject[:200],
            body=f"{message.body}\n\n{full_link}".rstrip() if full_link else message.body,
            link=message.link, dedupe_key=key, created_at=stamp, next_attempt_at=stamp,
        ))
        keys.append(key)
    if not rows:
        return 0
    # ignore_conflicts: a message with the same key (an earlier run, or a
    # concurrent one) is kept as it is and not queued again.
    Notification.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    new_ids = []
    for start in range(0, len(keys), 500):
        new_ids.extend(Notification.objects.filter(
            dedupe_key__in=keys[start:start + 500], created_at=stamp, status=Notification.Status.PENDING
        ).values_list("pk", flat=True))
    if new_ids and not _holding.get():
        transaction.on_commit(lambda ids=tuple(new_ids): _queue_batch_delivery(ids))
    return len(new_ids)


def _queue_batch_delivery(ids) -> None:
    from .tasks import deliver_notifications

    try:
        deliver_notifications.apply_async((list(ids),), retry=False)
    except Exception:  # noqa: BLE001 - broker down: the periodic delivery job sends them later
        log.warning("Broker unreachable; %s notifications stay pending for the delivery job", len(ids))


def deliver(notification_id: int, *, now: dt.datetime | None = None) -> bool:
    """Send one pending message. True when this call sent it."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=Notification.Status.PENDING, next_attempt_at__lte=now
    ).update(status=Notification.Status.SENDING, claimed_at=now)
    if claimed != 1:
        return False  # already sent, being sent, or not due yet
    message = Notification.objects.get(pk=notification_id)
    try:
        send_mail(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, [message.to_email])
    except Exception as exc:  # noqa: BLE001 - any delivery failure is retried later
        attempts = message.attempts + 1
        failed = attempts >= MAX_ATTEMPTS
        Notification.objects.filter(pk=message.pk).update(
            status=Notification.Status.FAILED if failed else Notification.Status.PENDING,
            attempts=attempts,
            last_error=str(exc)[:2000],
            # Push the next try out so a bad address cannot spin the loop.
            next_attempt_at=now + dt.timedelta(minutes=2**attempts),
            claimed_at=None,
        )
        log.warning("Notification %s failed (attempt %s): %s", message.pk, attempts, exc)
        return False
    Notification.objects.filter(pk=message.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), attempts=message.attempts + 1, last_error=""
    )
    return True


def deliver_pending(*, now: dt.datetime | None = None, limit: int = 500) -> dict:
    """Deliver what is due, including messages whose worker died mid-send."""
    now = now or timezone.now()
    Notification.objects.filter(
        status=Notification.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    ).update(status=Notification.Status.PENDING, claimed_at=None)
    due = list(
        Notification.objects.filter(status=Notification.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = sum(deliver(pk, now=now) for pk in due)
    return {"due": len(due), "sent": sent}


def deliver_after_commit(ids) -> None:
    """For rows a set-based sweep inserted itself (INSERT … SELECT): deliver
    them in one task once the caller's transaction commits."""
    ids = tuple(ids)
    if ids:
        transaction.on_commit(lambda: _queue_batch_delivery(ids))
