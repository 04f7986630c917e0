"""What every collection of the read API shares: the scope `read`, cursor
pagination in a stable order, the pages' filtersets (django-filter) and the
responses the schema names. A collection is a read-only viewset in its own
app, registered on the router of hmis_portal/api.py; its queryset is always
narrowed to the key's owner by the same `restrict_*` of accounts.access as the
pages, so a key never reads more than its owner may in the browser."""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.pagination import CursorPagination

from .models import Scope

REFUSALS = {
    400: OpenApiResponse(description="A filter's value is not one the collection knows."),
    401: OpenApiResponse(description="No key, or a key that is unknown, revoked or rotated."),
    403: OpenApiResponse(description="The key lacks the scope `read`, or its owner may not read this "
                                     "collection in the portal."),
    404: OpenApiResponse(description="Nothing the key's owner may see has that id, or the cursor is not one "
                                     "this collection gave."),
    429: OpenApiResponse(description="Too many requests with this key; see Retry-After."),
}


def agency_filter(field_name: str = "organization_id") -> django_filters.NumberFilter:
    """`?agency=<id>` on a collection: an id PostgreSQL can hold, else 400."""
    return django_filters.NumberFilter(field_name=field_name, min_value=1, max_value=2**31 - 1)


class ReadPagination(CursorPagination):
    """Pages that hold still while rows are added: `next`/`previous` links
    carry an opaque cursor over the collection's order (oldest first)."""

    ordering = ("pk",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def described(serializer, summary: str, *, detail: str | None = None):
    """The schema's words for a collection (and its detail route when it has one)."""
    views = {"list": extend_schema(summary=summary, responses={200: serializer(many=True), **REFUSALS})}
    if detail:
        views["retrieve"] = extend_schema(
            summary=detail, responses={200: serializer, **_without(REFUSALS, 400)},
            parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                         description="The object's id, as its collection lists it.")])
    return extend_schema_view(**views)


def _without(responses, code):
    return {k: v for k, v in responses.items() if k != code}


class ReadCollection(viewsets.ReadOnlyModelViewSet):
    """A collection with detail routes by id (404 for what the owner may not see)."""

    required_scope = Scope.READ.value
    pagination_class = ReadPagination
    filter_backends = [DjangoFilterBackend]
    lookup_value_regex = "[0-9]+"


class ReadListCollection(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A collection without detail routes (rows that are counts, not objects)."""

    required_scope = Scope.READ.value
    pagination_class = ReadPagination
    filter_backends = [DjangoFilterBackend]
