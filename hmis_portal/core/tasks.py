from celery import shared_task

from . import outbox


@shared_task(ignore_result=True)
def deliver_notification(notification_id: int) -> None:
    outbox.deliver(notification_id)


@shared_task(ignore_result=True)
def deliver_notifications(ids: list[int]) -> None:
    # One task per sweep batch rather than per message; each delivery still
    # claims its row, so a retry or a second worker sends nothing twice.
    for pk in ids:
        outbox.deliver(pk)


@shared_task(ignore_result=True)
def deliver_pending_notifications(at: str | None = None) -> str:
    # Delivery always runs on the real clock: `at` only moves policy sweeps,
    # and a message queued now must not wait for a simulated date.
    result = outbox.deliver_pending()
    return f"{result['sent']} sent of {result['due']} due"
