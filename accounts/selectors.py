"""Reads about people and agencies."""

from django.db.models import Case, Q, When
from django.shortcuts import get_object_or_404

from .access import restrict
from .models import Invitation, Membership, Organization, Persona


def memberships_of(user):
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def organization_members(organization):
    """Everyone at an agency, each once, with their personas."""
    members = {}
    for membership in Membership.objects.filter(organization=organization).select_related("user"):
        members.setdefault(membership.user, []).append(membership.get_persona_display())
    return sorted(members.items(), key=lambda item: str(item[0]))


# People a page about an agency names; the rest are on the agency's page.
PEOPLE_SHOWN = 30


def organization_people(organization, *, reader, limit: int = PEOPLE_SHOWN):
    """The agency's people with their persona codes, `reader`'s own
    memberships first, then its leads, then its staff by name: at most
    `limit` people, and whether there are more, in one query. `reader`'s
    personas there come with them (`access.remember_personas` keeps them
    for the rest of the request)."""
    memberships = list(
        Membership.objects.filter(organization=organization).select_related("user")
        .annotate(_theirs=Case(When(user_id=reader.pk, then=0), default=1),
                  _lead=Case(When(persona=Persona.STAFF, then=1), default=0))
        .order_by("_theirs", "_lead", "user__full_name", "user__email", "pk")[:limit + 4])
    people: dict = {}
    for membership in memberships:
        people.setdefault(membership.user, []).append(membership.persona)
    more = len(people) > limit or len(memberships) == limit + 4
    readers_personas = set(people.get(reader, ())) if reader.is_authenticated else set()
    return list(people.items())[:limit], more, readers_personas


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
