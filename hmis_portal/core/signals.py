"""Named signals between stages are delivered when the sender's transaction
commits (`send_on_commit`), never inside it.

An earlier stage tells a later one of a change by a named signal
(`onboarding.signals.participation_changed`,
`training.signals.training_record_changed`). Sent inside the sender's
transaction, the later stage's receivers would lock their own rows (HMIS
access requests) for as long as the sender's transaction lasts, and would act
on a change that might still roll back. Sent on commit, they run after it, in a
transaction of their own; a change that rolls back sends nothing, and a
receiver that fails is logged without undoing the sender's committed change.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)


class SignalDelivery:
    """One sending of a named signal, waiting for the commit."""

    def __init__(self, signal: Signal, sender, kwargs: dict):
        self.signal, self.sender, self.kwargs = signal, sender, kwargs

    def __call__(self) -> None:
        with transaction.atomic():
            self.signal.send(sender=self.sender, **self.kwargs)

    def __repr__(self) -> str:
        return f"<SignalDelivery {self.sender.__name__} {sorted(self.kwargs)}>"

    def __eq__(self, other) -> bool:
        return (isinstance(other, SignalDelivery) and other.signal is self.signal and other.sender is self.sender
                and other.kwargs == self.kwargs)

    __hash__ = None


def send_on_commit(signal: Signal, *, sender, using: str | None = None, **kwargs) -> None:
    """Send `signal` once the current transaction commits (at once outside one).

    The same signal with the same arguments already waiting for this commit
    is sent once: a receiver reads the state as committed, so a second
    delivery would find nothing new (a demo, an import, that change one
    agency's participation many times in one transaction). Still waiting, the
    first is dropped by a rollback only with the change that sends the second,
    which was made inside every savepoint still open around the first."""
    delivery = SignalDelivery(signal, sender, kwargs)
    connection = transaction.get_connection(using)
    if connection.in_atomic_block and any(entry[1] == delivery for entry in connection.run_on_commit):
        return
    transaction.on_commit(delivery, using=using, robust=True)
