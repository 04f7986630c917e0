"""The read API's referral counts: open referrals per program and need
status, with due-soon and overdue counts, as the counts report shows them
(`selectors.counted_referrals`: every member of a provider agency, and the
CES team). Counts only: no client identifier is part of a row, nor a filter."""

from django.db.models import Count, F, Q
from django.utils import timezone
from rest_framework import serializers
from rest_framework.permissions import BasePermission

from accounts.access import can_see_referral_counts
from accounts.apikeys.read import ReadListCollection, ReadPagination, described

from .filtersets import ReferralFilter
from .models import ReferralPolicy
from .selectors import counted_referrals, due_soon_bound


class CountsFilter(ReferralFilter):
    # A count per client would say whether a client was referred: the
    # client search stays with those who may see client data, on the pages.
    client = None
    due = None
    queue = None


class MaySeeReferralCounts(BasePermission):
    message = "Referral counts are for housing provider staff and the CES team."

    def has_permission(self, request, view):
        return can_see_referral_counts(request.user)


class CountsPagination(ReadPagination):
    ordering = ("program_id", "status_id")


class ReferralCountSerializer(serializers.Serializer):
    agency = serializers.IntegerField(source="agency_id")
    program = serializers.IntegerField(source="program_id")
    program_name = serializers.CharField()
    status = serializers.IntegerField(source="status_id", help_text="The need status's id.")
    status_code = serializers.CharField()
    status_name = serializers.CharField()
    total = serializers.IntegerField(help_text="Open referrals in this program and need status.")
    due_soon = serializers.IntegerField()
    overdue = serializers.IntegerField()


@described(ReferralCountSerializer, "Open referrals counted by program and need status")
class ReferralCountCollection(ReadListCollection):
    """Open referrals counted by program and need status, with due-soon and overdue counts, as on
    the counts report: a provider agency's people read their agency's, the CES team every
    agency's. Counts only: no client identifier is part of a row, nor a filter."""

    serializer_class = ReferralCountSerializer
    filterset_class = CountsFilter
    pagination_class = CountsPagination
    permission_classes = [*ReadListCollection.permission_classes, MaySeeReferralCounts]

    def get_queryset(self):
        return counted_referrals(self.request.user).filter(is_open=True)

    def filter_queryset(self, queryset):
        now = timezone.now()
        soon = due_soon_bound(now, ReferralPolicy.current())
        return (super().filter_queryset(queryset)
                .values("program_id", "status_id")
                .annotate(agency_id=F("program__organization_id"), program_name=F("program__name"),
                          status_code=F("status__code"), status_name=F("status__name"),
                          total=Count("*"), overdue=Count("due_at", filter=Q(due_at__lte=now)),
                          due_soon=Count("due_at", filter=Q(due_at__gt=now, due_at__lte=soon)))
                .order_by())
