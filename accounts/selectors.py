"""Reads about people and agencies."""

from .models import Membership


def memberships_of(user):
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def organization_members(organization):
    """Everyone at an agency, each once, with their personas."""
    members = {}
    for membership in Membership.objects.filter(organization=organization).select_related("user"):
        members.setdefault(membership.user, []).append(membership.get_persona_display())
    return sorted(members.items(), key=lambda item: str(item[0]))
