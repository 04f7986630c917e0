"""Reads of HMIS access that lower layers are offered through the core's registry."""

from hmis_portal.core import registry

from .models import AccessPolicy, AccessRequest, HMISAccount


def access_policy() -> AccessPolicy:
    """The CoC's access policy row (who asks for access; whether CoC staff approve)."""
    return AccessPolicy.current()


def active_hmis_accounts():
    """HMIS accounts whose holders may use HMIS now (Active)."""
    return HMISAccount.objects.filter(status=HMISAccount.Status.ACTIVE)


def approval_stage(user) -> str:
    """Where `user`'s HMIS access stands against the CoC's approval step
    (`registry.APPROVED`, `AWAITING`, `DECLINED` or `NO_REQUEST`). A request
    made before the step was turned on never waited for it, and anyone who
    holds an HMIS account (retraining, reactivation) is past it. Two queries."""
    if HMISAccount.objects.filter(user=user).exists():
        return registry.APPROVED
    statuses = set(AccessRequest.objects.filter(user=user).values_list("status", flat=True))
    if statuses & {AccessRequest.Status.OPEN, AccessRequest.Status.READY, AccessRequest.Status.PROVISIONED}:
        return registry.APPROVED
    if AccessRequest.Status.AWAITING_APPROVAL in statuses:
        return registry.AWAITING
    if AccessRequest.Status.DECLINED in statuses:
        return registry.DECLINED
    return registry.NO_REQUEST
