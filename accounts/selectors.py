"""Reads about people and agencies."""

from django.shortcuts import get_object_or_404

from .access import restrict
from .models import Invitation, Membership


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
