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


def send_on_commit(signal: Signal, *, sender, using: str | None = None, **kwargs) -> None:
    """Send `signal` once the current transaction commits (at once outside one)."""
    transaction.on_commit(SignalDelivery(signal, sender, kwargs), using=using, robust=True)
