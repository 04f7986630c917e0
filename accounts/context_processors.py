"""`menu.<link>` in every template: whether the signed-in person may open
that menu page, asked of the same predicates the views use, so a menu link
never leads to a 403."""

from django.contrib.auth import middleware as auth_middleware
from django.utils.functional import LazyObject, SimpleLazyObject

from hmis_portal.core import provisioning

from . import access


def _menu_for(user) -> dict[str, bool]:
    staff = access.is_coc_staff(user)
    # Each agency the person belongs to: its progress page (any member may open it).
    # From the person's standing, read once per request (access.standing): the menu asks no query of its own.
    agencies = [] if staff else access.agencies_where(user)
    return {
        "referrals": access.can_see_referral_counts(user),
        "partnerships": access.can_see_partnerships(user, organizations=agencies),
        "coc_queue": access.can_work_onboarding_queue(user),
        "provisioning_queue": access.can_provision(user),
        # Only where the CoC's access policy has the approval step.
        "access_approvals": access.can_work_access_approvals(user) and access.access_requests_need_approval(),
        "hmis_accounts": access.can_see_hmis_accounts(user),
        # Only with an HMIS provisioning target: without one there is nothing to show.
        "hmis_provisioning": provisioning.enabled() and access.can_see_hmis_provisioning(user),
        "webhooks": access.can_manage_webhooks(user),
        "admin": staff,
        "own_access": not staff,
        "agencies": agencies,
    }


def signed_in_person(request):
    """The person the request is signed in as, itself rather than the lazy
    object on `request.user` (the one AuthenticationMiddleware reads and
    django-otp marks verified): a page that asks a few dozen predicates of them
    (the home page, its menu) reads each attribute through no proxy."""
    user = getattr(request, "user", None)
    if isinstance(user, LazyObject):
        # Read through the lazy object once first: that is when django-otp
        # marks the person (whether their session passed the second factor).
        user.is_authenticated
        user = auth_middleware.get_user(request)
    return user


def menu(request):
    user = signed_in_person(request)
    if user is None or not user.is_authenticated:
        return {}
    # `user` too: base.html and the page read the person's name and standing.
    return {"menu": SimpleLazyObject(lambda: _menu_for(user)), "user": user}
