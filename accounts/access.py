"""Who may see and do what, in one place (STYLE §4).

Agency staff see their own organizations' objects; CoC staff with the model's
view permission see every organization's; a CoC staff member may instead be
given view permission on particular organizations (django-guardian object
permissions: a regional lead who looks after some agencies). Anything outside
what a person may see is a 404, never a 403: the response does not say that
the object exists. A member of the right agency who lacks the persona an
action needs gets a 403.

Every app's `access_*` helper narrows its queryset with `restrict` and fetches
with `get_object_or_404`, so a view never fetches an object unchecked.
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from guardian.shortcuts import get_objects_for_user

from .models import CoCGroup, Membership, Organization, Persona

ORGANIZATION_VIEW_PERM = "accounts.view_organization"


def is_coc_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def in_coc_group(user, *groups: CoCGroup) -> bool:
    if not is_coc_staff(user):
        return False
    if user.is_superuser:
        return True
    names = {group.value for group in groups}
    return any(group.name in names for group in user.groups.all())


def visible_organizations(user) -> QuerySet[Organization]:
    """Organizations whose objects `user` may see."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    if is_coc_staff(user):
        # Global view permission, or object permission on chosen agencies.
        return get_objects_for_user(user, ORGANIZATION_VIEW_PERM, klass=Organization, accept_global_perms=True)
    return Organization.objects.filter(memberships__user=user).distinct()


def sees_all_organizations(user) -> bool:
    return is_coc_staff(user) and user.has_perm(ORGANIZATION_VIEW_PERM)


def restrict(queryset: QuerySet, user, organization_field: str = "organization") -> QuerySet:
    """Narrow `queryset` to objects of organizations `user` may see."""
    if sees_all_organizations(user):
        return queryset
    return queryset.filter(**{f"{organization_field}__in": visible_organizations(user).values("pk")})


def personas_at(user, organization) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(
        Membership.objects.filter(user=user, organization=organization).values_list("persona", flat=True)
    )


def has_persona(user, organization, personas: Iterable[str]) -> bool:
    return bool(personas_at(user, organization) & set(personas))


def require_persona(user, organization, personas: Iterable[str], action: str = "do this") -> None:
    """403 unless `user` holds one of `personas` at `organization`."""
    personas = list(personas)
    if not has_persona(user, organization, personas):
        labels = " or ".join(Persona(p).label for p in personas)
        raise PermissionDenied(f"Only the agency's {labels} may {action}.")


def organizations_where(user, personas: Iterable[str]) -> QuerySet[Organization]:
    """The organizations at which `user` holds one of `personas`."""
    if not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(
        Q(memberships__user=user) & Q(memberships__persona__in=list(personas))
    ).distinct()


def access_organization(user, slug: str, personas: Iterable[str] | None = None) -> Organization:
    """The organization `slug` if `user` may see it (404 otherwise), and, when
    `personas` is given, holds one of them there (403 otherwise)."""
    organization = get_object_or_404(visible_organizations(user), slug=slug)
    if personas is not None:
        require_persona(user, organization, personas)
    return organization
