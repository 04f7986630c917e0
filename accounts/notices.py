"""Queueing many outbox messages at once, for the sweeps.

`hmis_portal.core.outbox.notify` checks and inserts one message at a time;
a sweep that changes a thousand accounts in a batch writes that batch's
messages in one insert instead. Each message still carries a dedupe key
(unique in the outbox), so a re-run inserts nothing that was queued before,
and delivery is queued after commit, as `notify` does.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hmis_portal.core.models import Notification


@dataclass(frozen=True)
class Message:
    recipient: object  # a User
    subject: str
    body: str
    link: str
    dedupe_key: str


def queue_messages(messages: Iterable[Message]) -> int:
    """Insert each message not queued before (by dedupe key and recipient);
    returns how many were new. Call inside the transaction that causes them."""
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
    if new_ids:
        transaction.on_commit(lambda ids=tuple(new_ids): _queue_delivery(ids))
    return len(new_ids)


def _queue_delivery(ids) -> None:
    from .tasks import deliver_notifications

    try:
        deliver_notifications.apply_async((list(ids),), retry=False)
    except Exception:  # noqa: BLE001 - broker down: the periodic delivery job sends them later
        pass
