"""HMIS access's figures for Prometheus (core.metrics, registered in apps.py)."""

from hmis_portal.core.metrics import Figure

from .provisioning import queue_models


def provisioning_figures(now) -> list[Figure]:
    """Provisioning work past its deadline and not yet provisioned, per kind
    (access requests, reactivations): one count query per kind."""
    return [
        Figure("provisioning_overdue", "Provisioning work past its deadline and not yet provisioned.",
               model.awaiting_provisioning().filter(provisioning_due_at__lte=now).count(),
               {"kind": model.queue_kind})
        for model in queue_models()
    ]
