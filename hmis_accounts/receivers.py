"""How HMIS accounts hear of changes in the earlier stages (named signals)."""

from .services import retraining_refresh


def training_record_changed(sender, user, actor=None, **kwargs):
    # A completed retraining (seed 002) lets a waiting reactivation through.
    retraining_refresh(user=user, actor=actor)
