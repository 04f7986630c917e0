"""The notification outbox (SPEC §5).

`notify` writes one `Notification` row per recipient inside the caller's
transaction and asks Celery to deliver them once that transaction commits. If
the broker is unreachable or frozen then, the rows simply stay pending: the
periodic `deliver_pending_notifications` job sends them when the broker is
back. Each delivery claims its row with a conditional UPDATE (healthchecks'
pattern), so two workers, or a retry racing the first attempt, send a message
once.

Queueing never holds up the request that caused the message: one publish per
committed change, bounded by the broker's socket timeouts (settings), and
after a failed publish this process skips the broker for a short while, so a
change notifying twenty people during an outage costs one timeout, not twenty.
"""

import contextlib
import contextvars
import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import make_msgid
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import SafeMIMEText
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import registry
from .inputs import one_line
from .models import Notification
from .site import portal_domain, portal_url

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


# After MAX_ATTEMPTS (about four hours of backoff) a message is marked failed,
# which the admin counts, but it is not abandoned: a mail outage can outlast
# the backoff. It is tried again this often, for this long after it was written.
FAILED_RETRY_EVERY = dt.timedelta(hours=1)
FAILED_RETRY_FOR = dt.timedelta(days=7)
# The delivery job sends in batches until nothing is due or its time budget is
# spent (then it queues itself again), well inside its Celery time limit.
BATCH_SIZE = 200
TIME_BUDGET_SECONDS = 240
# After a failed publish, this process leaves the broker alone for this long;
# the delivery job sends what was not queued.
BROKER_BACKOFF_SECONDS = 30

_broker_down_until = 0.0


@dataclass(frozen=True)
class Invitation:
    """A calendar sent with a message: the .ics bytes (`ics.calendar_file`
    with METHOD REQUEST or CANCEL) and that method."""
    method: str
    calendar: bytes


def notify(*, recipients: Iterable, subject: str, body: str, link: str = "", dedupe_key: str | None = None,
           invitation: Invitation | None = None) -> list[Notification]:
    """Queue one message to each recipient (users, or plain email addresses).

    With `dedupe_key`, each recipient's message is written at most once ever
    (the key is suffixed per recipient), which makes scheduled reminders
    idempotent across re-runs. An `invitation` (a calendar made for one
    person) goes with the message; pass one recipient with it.
    """
    created, plain = [], []
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
        full_link = portal_url(link)
        message = Notification(
            recipient=user,
            to_email=email,
            subject=one_line(subject)[:200],
            body=f"{body}\n\n{full_link}".rstrip() if full_link else body,
            link=link,
            dedupe_key=key,
            calendar=invitation.calendar.decode() if invitation else "",
            calendar_method=invitation.method if invitation else "",
        )
        if key is None:
            # Nothing unique to collide on: written with the others below.
            plain.append(message)
            continue
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            # A concurrent run of the same job queued it first.
            continue
        created.append(message)
    if plain:
        # One INSERT for everyone a change tells (PostgreSQL and SQLite return the keys).
        created = Notification.objects.bulk_create(plain) + created
    if created and not _holding.get():
        # One publish for the whole change, however many people it tells.
        transaction.on_commit(lambda ids=tuple(m.pk for m in created): _queue_batch_delivery(ids))
    return created


def after_commit_once(queue) -> None:
    """Call `queue` (a function that publishes a delivery task) once when the
    transaction commits, however many rows it wrote for that delivery. Not with
    eager Celery (no broker): the task would run inside the request that made
    the decision; there the periodic job delivers instead, so no page waits."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    if not any(entry[1] is queue for entry in connection.run_on_commit):
        transaction.on_commit(queue)


def publish(task, args=(), **options) -> bool:
    """Queue a Celery task without ever blocking or failing the caller: no
    retries, the broker's socket timeouts bound the wait, and after a failure
    the broker is skipped for BROKER_BACKOFF_SECONDS. False when not queued;
    callers rely on the periodic delivery job for that case."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        log.warning("Broker recently unreachable; %s not queued, the delivery job will catch up", task.name)
        return False
    try:
        task.apply_async(args, retry=False, **options)
    except Exception:  # noqa: BLE001 - any broker failure leaves the rows pending
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        log.warning("Broker unreachable; %s not queued, the delivery job will catch up", task.name, exc_info=True)
        return False
    return True


def broker_reset() -> None:
    """Forget a recorded broker failure (tests, and the worker after a restart)."""
    global _broker_down_until
    _broker_down_until = 0.0


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
    stamp = timezone.now()
    rows, keys = [], []
    for message in messages:
        email = message.recipient.email
        if not email:
            continue
        key = f"{message.dedupe_key}:{email}"[:200]
        full_link = portal_url(message.link)
        rows.append(Notification(
            recipient=message.recipient, to_email=email, subject=one_line(message.subject)[:200],
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
    from .tasks import deliver_notification, deliver_notifications

    if len(ids) == 1:
        publish(deliver_notification, (ids[0],))
    else:
        publish(deliver_notifications, (list(ids),))


SENT, SKIPPED, FAILED_NOW = "sent", "skipped", "failed"
# A run of the delivery job stops after this many failures in a row: the mail
# server is down or hanging, and each further try would cost EMAIL_TIMEOUT.
STOP_AFTER_FAILURES = 3


def deliver(notification_id: int, *, now: dt.datetime | None = None) -> bool:
    """Send one pending message. True when this call sent it."""
    return _send(notification_id, now=now or timezone.now()) == SENT


def deliver_batch(ids) -> int:
    """Send the messages of one change or sweep batch; at the first failure
    leave the rest pending for the delivery job rather than wait out the mail
    server's timeout once per message. Returns how many were sent."""
    sent = 0
    for pk in ids:
        outcome = _send(pk, now=timezone.now())
        if outcome == FAILED_NOW:
            break
        sent += outcome == SENT
    return sent


def _send(notification_id: int, *, now: dt.datetime) -> str:
    claimed = _due(now).filter(pk=notification_id).update(status=Notification.Status.SENDING, claimed_at=now)
    if claimed != 1:
        return SKIPPED  # already sent, being sent, or not due yet
    message = Notification.objects.get(pk=notification_id)
    try:
        send_mail(message)
    except Exception as exc:  # noqa: BLE001 - any delivery failure is retried later
        attempts = message.attempts + 1
        failed = attempts >= MAX_ATTEMPTS
        Notification.objects.filter(pk=message.pk).update(
            status=Notification.Status.FAILED if failed else Notification.Status.PENDING,
            attempts=attempts,
            last_error=str(exc)[:2000],
            # Push the next try out so a bad address cannot spin the loop; a
            # failed message is still tried again, hourly (see FAILED_RETRY_EVERY).
            next_attempt_at=now + (FAILED_RETRY_EVERY if failed else dt.timedelta(minutes=2**attempts)),
            claimed_at=None,
        )
        log.warning("Notification %s failed (attempt %s): %s", message.pk, attempts, exc)
        if isinstance(exc, SoftTimeLimitExceeded):
            raise  # the task is out of time: the row is back to pending, stop here
        return FAILED_NOW
    Notification.objects.filter(pk=message.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), attempts=message.attempts + 1, last_error=""
    )
    return SENT


class _Mail(EmailMultiAlternatives):
    def _create_mime_attachment(self, content, mimetype):
        # An invitation's part must say its method in its Content-Type
        # (RFC 6047: text/calendar; method=REQUEST), which Django's own
        # text parts cannot carry.
        if mimetype.startswith("text/calendar;"):
            part = SafeMIMEText(content, "calendar", self.encoding or settings.DEFAULT_CHARSET)
            part.set_param("method", mimetype.partition("method=")[2])
            return part
        return super()._create_mime_attachment(content, mimetype)


def send_mail(message: Notification) -> None:
    """Hand one message to the mail server (EMAIL_BACKEND), as `portal_mail`
    builds it, with an invitation's calendar where the message has one."""
    mail = portal_mail(subject=message.subject, body=message.body, to=message.to_email, link=message.link,
                       message_id=message_id(message), reply_to=reply_to(message.link))
    if message.calendar:
        mail.attach_alternative(message.calendar, f"text/calendar; method={message.calendar_method}")
    mail.send()


def portal_mail(*, subject: str, body: str, to: str, link: str, message_id: str,
                reply_to: str = "") -> EmailMultiAlternatives:
    """One mail of the portal, built the one way every mail is, whether the
    outbox sends it or it is sent at once: the plain text as written, the
    same words as HTML (one template for every message), the Message-ID
    given (under the portal's domain), `Auto-Submitted: auto-generated`, and
    a Reply-To when the team that answers has an inbox."""
    # A subject written by SQL (the sweeps) or before subjects were kept to
    # one line is made one here: a line break would fail every try.
    subject = one_line(subject)
    # Auto-Submitted (RFC 3834): out-of-office replies and other robots do not answer it.
    headers = {"Message-ID": message_id, "Auto-Submitted": "auto-generated"}
    if reply_to:
        headers["Reply-To"] = reply_to
    mail = _Mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers=headers)
    link = portal_url(link)
    mail.attach_alternative(render_to_string("core/email/message.html", {
        "subject": subject, "paragraphs": _paragraphs(body, link), "link": link,
        "portal_name": settings.PORTAL_NAME}), "text/html")
    return mail


def new_message_id() -> str:
    """A Message-ID under the portal's domain for a mail sent at once, not
    through the outbox (which names its own from the notification)."""
    return make_msgid(domain=portal_domain())


def _paragraphs(body: str, link: str) -> list[str]:
    """The body's paragraphs, without the link the plain text ends with (the
    HTML shows it as a button)."""
    paragraphs = [part.strip() for part in body.split("\n\n") if part.strip()]
    return paragraphs[:-1] if link and paragraphs and paragraphs[-1] == link else paragraphs


def message_id(message: Notification) -> str:
    """The message's Message-ID, the same on every try: a worker that dies
    after the mail server took the message but before the row says "sent"
    leaves it to be sent again, and the recipient's mail system recognises
    the copy by this id. It names the notification and the moment it was
    written (ids start again in a restored or new database; a new message
    must never look like an old one) under the portal's own domain."""
    return f"<notification.{message.pk}.{message.created_at:%Y%m%d%H%M%S%f}@{portal_domain()}>"


def reply_to(link: str) -> str:
    """The inbox of the CoC team that answers for the page `link` opens (the
    app serving it names the team, the mail policy its inbox); '' for a link
    that is no page of the portal, or a team without an inbox."""
    from .models import MailPolicy

    if not link.startswith("/"):
        return ""
    try:
        page = resolve(urlsplit(link).path)
    except Resolver404:
        return ""
    team = dict(registry.mail_teams.items()).get(page.func.__module__.split(".")[0], "")
    return MailPolicy.current().inbox(team)


def _due(now: dt.datetime):
    """Pending messages that are due, and failed ones still within the window
    in which they are retried (a mail outage that outlasted the backoff)."""
    return Notification.objects.filter(
        Q(status=Notification.Status.PENDING)
        | Q(status=Notification.Status.FAILED, created_at__gte=now - FAILED_RETRY_FOR),
        next_attempt_at__lte=now,
    )


def deliver_pending(*, now: dt.datetime | None = None, batch_size: int | None = None,
                    budget_seconds: float | None = None) -> dict:
    """Deliver everything that is due, in batches, including messages whose
    worker died mid-send. Stops when nothing is due or the time budget is
    spent; `more` then says the caller should run again at once."""
    now = now or timezone.now()
    Notification.objects.filter(
        status=Notification.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    ).update(status=Notification.Status.PENDING, claimed_at=None)
    batch_size = batch_size or BATCH_SIZE
    deadline = time.monotonic() + (TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    due = sent = failures = 0
    while True:
        # Each pass either sends a row or pushes its next attempt past `now`,
        # so the next query never sees it again: the loop ends.
        ids = list(_due(now).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:batch_size])
        due += len(ids)
        for pk in ids:
            outcome = _send(pk, now=now)
            sent += outcome == SENT
            failures = failures + 1 if outcome == FAILED_NOW else 0
            if failures >= STOP_AFTER_FAILURES:
                # The mail server is down: the next beat tick tries again.
                return {"due": due, "sent": sent, "more": False}
            if time.monotonic() >= deadline:
                return {"due": due, "sent": sent, "more": True}
        if len(ids) < batch_size:
            return {"due": due, "sent": sent, "more": False}


def retry_now(*, actor, ids) -> int:
    """An administrator's "retry now": failed or pending messages become due
    at once (never rows being sent right now, which would send them twice),
    audited, and queued for delivery. Returns how many were queued."""
    from .audit import record_event

    now = timezone.now()
    with transaction.atomic():
        rows = list(Notification.objects.select_for_update().filter(
            pk__in=list(ids), status__in=[Notification.Status.PENDING, Notification.Status.FAILED]
        ).order_by("pk"))
        for row in rows:
            record_event(actor=actor, subject=row, verb="notification retried", from_state=row.status,
                         to_state=Notification.Status.PENDING)
        Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Notification.Status.PENDING, next_attempt_at=now, claimed_at=None)
        if rows:
            transaction.on_commit(lambda pks=tuple(row.pk for row in rows): _queue_batch_delivery(pks))
    return len(rows)


def deliver_after_commit(ids) -> None:
    """For rows a set-based sweep inserted itself (INSERT … SELECT): deliver
    them in one task once the caller's transaction commits."""
    ids = tuple(ids)
    if ids and not _holding.get():
        transaction.on_commit(lambda: _queue_batch_delivery(ids))
