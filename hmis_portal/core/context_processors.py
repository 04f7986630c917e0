from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import prefetch_related_objects
from django.utils.functional import SimpleLazyObject


def portal(request):
    return {"PORTAL_NAME": settings.PORTAL_NAME}


def _passes(check, *args) -> bool:
    try:
        check(*args)
    except PermissionDenied:
        return False
    return True


def _menu_for(user) -> dict[str, bool]:
    # The menu asks the very checks the views make (imported here, not copied),
    # so a link shows only to someone the page serves rather than leading to a 403.
    from accounts.access import in_coc_group, is_coc_staff
    from accounts.access_views import QUEUE_VIEWERS
    from accounts.activity_views import STAFF_GROUPS
    from onboarding.selectors import works_coc_queue
    from referrals.selectors import require_referral_worker

    # One query for the person's staff groups, which every group check below reads.
    if is_coc_staff(user) and not getattr(user, "_prefetched_objects_cache", {}).get("groups"):
        prefetch_related_objects([user], "groups")
    staff = is_coc_staff(user)
    return {
        "referrals": _passes(require_referral_worker, user),
        "coc_queue": works_coc_queue(user),
        "provisioning_queue": in_coc_group(user, *QUEUE_VIEWERS),
        "hmis_accounts": in_coc_group(user, *STAFF_GROUPS),
        "admin": staff,
        "own_access": not staff,
    }


def menu(request):
    """`menu.<link>`: whether the signed-in person may open that menu page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"menu": SimpleLazyObject(lambda: _menu_for(user))}
