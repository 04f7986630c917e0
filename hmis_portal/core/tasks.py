from celery import shared_task

from . import outbox

# Every task here may run twice (acks_late with task_reject_on_worker_lost puts
# a task back on the queue when its worker dies): each delivery claims its row
# with a conditional UPDATE first, so a second run sends nothing twice.


@shared_task(ignore_result=True)
def deliver_notification(notification_id: int) -> None:
    outbox.deliver(notification_id)


@shared_task(ignore_result=True)
def deliver_notifications(ids: list[int]) -> None:
    # One task per change or sweep batch rather than per message; each delivery
    # still claims its row, so a retry or a second worker sends nothing twice.
    outbox.deliver_batch(ids)


@shared_task(ignore_result=True)
def deliver_pending_notifications(at: str | None = None) -> str:
    # Delivery always runs on the real clock: `at` only moves policy sweeps,
    # and a message queued now must not wait for a simulated date.
    result = outbox.deliver_pending()
    if result["more"]:
        # The time budget ran out with messages still due: carry on at once
        # rather than waiting for the next beat tick.
        outbox.publish(deliver_pending_notifications)
    more = "; more queued" if result["more"] else ""
    return f"{result['sent']} sent of {result['due']} due{more}"


@shared_task(ignore_result=True)
def deliver_provisioning(at: str | None = None) -> str:
    # Commands to the HMIS (SCIM): queued after each decision's commit and
    # every few minutes by beat. Real clock, as for notifications; at most
    # HMIS_SCIM_CONCURRENCY runs talk to the HMIS at once.
    from . import provisioning

    result = provisioning.deliver_pending()
    if result["more"]:
        outbox.publish(deliver_provisioning)
    return result["summary"]


@shared_task(ignore_result=True)
def deliver_webhooks(at: str | None = None) -> str:
    # Webhooks to subscribed systems: queued after each decision's commit and
    # every minute by beat (receiver or broker was down, backoff elapsed).
    # Real clock, as for notifications.
    from . import webhooks

    result = webhooks.deliver_pending()
    if result["more"]:
        outbox.publish(deliver_webhooks)
    return result["summary"]
