"""Reads of HMIS access that lower layers are offered through the core's registry."""

from .models import AccessPolicy, HMISAccount


def access_policy() -> AccessPolicy:
    """The CoC's access policy row (who asks for access; whether CoC staff approve)."""
    return AccessPolicy.current()


def active_hmis_accounts():
    """HMIS accounts whose holders may use HMIS now (Active)."""
    return HMISAccount.objects.filter(status=HMISAccount.Status.ACTIVE)
