from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from hmis_portal.core.audit import events_for
from hmis_portal.core.work import open_tasks_for

from . import selectors
from .access import access_organization, is_coc_staff
from .access_views import _agency_or_coc
from .selectors import AGENCY_ACCOUNT_VIEWERS


def _allowed(check, *args) -> bool:
    try:
        check(*args)
    except PermissionDenied:
        return False
    return True


@login_required
def home(request):
    """The person's home page: what waits on them, by persona."""
    user = request.user
    return render(
        request,
        "accounts/home.html",
        {
            "memberships": selectors.memberships_of(user),
            "tasks": open_tasks_for(user),
            "is_coc_staff": is_coc_staff(user),
            "staff_groups": [group.name for group in user.groups.all()] if is_coc_staff(user) else [],
        },
    )


@login_required
def organization_detail(request, slug):
    organization = access_organization(request.user, slug)
    return render(
        request,
        "accounts/organization_detail.html",
        {
            "organization": organization,
            "members": selectors.organization_members(organization),
            "events": events_for(organization),
            # The same checks as the two agency pages, so their links show only to those they serve.
            "can_see_hmis_accounts": _allowed(access_organization, request.user, slug, AGENCY_ACCOUNT_VIEWERS),
            "can_see_users": _allowed(_agency_or_coc, request.user, organization),
        },
    )
