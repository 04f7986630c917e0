"""Reads about people and agencies."""

from django.db.models import Q
from django.shortcuts import get_object_or_404

from .access import restrict
from .models import Invitation, Membership, Organization


def memberships_of(user):
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def organization_members(organization):
    """Everyone at an agency, each once, with their personas."""
    members = {}
    for membership in Membership.objects.filter(organization=organization).select_related("user"):
        members.setdefault(membership.user, []).append(membership.get_persona_display())
    return sorted(members.items(), key=lambda item: str(item[0]))


def open_invitations(organization):
    """Invitations not yet accepted or revoked (expired ones too: they can be resent)."""
    return (Invitation.objects.filter(organization=organization, accepted_at__isnull=True, revoked_at__isnull=True)
            .select_related("invited_by").order_by("email"))


def access_invitation(user, pk) -> Invitation:
    """The invitation if `user` may see its agency; 404 otherwise."""
    return get_object_or_404(restrict(Invitation.objects.select_related("organization"), user), pk=pk)


SEARCH_LIMIT = 50


def search_agencies_and_people(user, query: str):
    """Agencies whose name matches, and people (name or email) at the
    agencies `user` may see: at most SEARCH_LIMIT of each, two queries."""
    query = (query or "").strip()
    if len(query) < 2:
        return [], []
    agencies = restrict(Organization.objects.filter(name__icontains=query), user, organization_field="pk")
    people = (restrict(Membership.objects.filter(Q(user__full_name__icontains=query) | Q(user__email__icontains=query)),
                       user).select_related("user", "organization").order_by("user__full_name", "organization__name"))
    return list(agencies.order_by("name")[:SEARCH_LIMIT]), list(people[:SEARCH_LIMIT])
