from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from hmis_portal.core.audit import events_for
from hmis_portal.core.work import open_tasks_for

from . import access, selectors
from .access import access_organization, is_coc_staff


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
            # The same predicates as the two agency pages, so their links show only to those they serve.
            "can_see_hmis_accounts": access.can_see_hmis_accounts(request.user, organization),
            "can_see_users": access.can_see_user_access(request.user, organization),
        },
    )
