"""Who must sign in with a second factor (one predicate, asked by the
middleware, the pages and the tests alike)."""

from django_otp import devices_for_user

from .models import SignInPolicy


def has_two_factor_device(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def two_factor_required(user, policy: SignInPolicy | None = None) -> bool:
    """CoC staff reach every agency's documents and client referrals: always.
    Agency users: when the CoC's policy says so, or once they turned it on."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    policy = policy or SignInPolicy.current()
    return policy.require_two_factor_for_agency_users or has_two_factor_device(user)


def two_factor_optional(user, policy: SignInPolicy | None = None) -> bool:
    """May this person turn the second factor off again?"""
    policy = policy or SignInPolicy.current()
    return not (user.is_staff or policy.require_two_factor_for_agency_users)
