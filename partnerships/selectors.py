"""Reads of data partnerships, narrowed to what a person may see (STYLE §2, §4)."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from accounts.access import is_coc_staff, member_organizations, restrict, sees_every_partnership
from accounts.models import Organization
from onboarding.selectors import participating_organizations

from .models import DataPartnership, IntakeBatch


def visible_partnerships(user) -> QuerySet[DataPartnership]:
    """The partnerships `user` may see: those of the agencies they belong to
    (on either side); CoC staff who look after partnerships, every one of the
    agencies they may see; anyone else, none."""
    if not user.is_authenticated or not user.is_active:
        return DataPartnership.objects.none()
    if sees_every_partnership(user):
        visible = restrict(Organization.objects.all(), user, organization_field="pk").values("pk")
        return DataPartnership.objects.filter(Q(agency__in=visible) | Q(partner__in=visible))
    if is_coc_staff(user):
        return DataPartnership.objects.none()
    mine = member_organizations(user).values("pk")
    return DataPartnership.objects.filter(Q(agency__in=mine) | Q(partner__in=mine))


def partnership_list(user, *, now, organization=None) -> QuerySet[DataPartnership]:
    """Partnerships with their figures, one query: batches, entered, entered
    on time, and overdue (not entered, past the deadline) now."""
    queryset = visible_partnerships(user)
    if organization is not None:
        queryset = queryset.filter(Q(agency=organization) | Q(partner=organization))
    return (queryset.select_related("agency", "partner")
            .annotate(batch_count=Count("batches"),
                      entered_count=Count("batches", filter=Q(batches__entered_at__isnull=False)),
                      on_time_count=Count("batches", filter=Q(batches__entered_on_time=True)),
                      overdue_count=Count("batches", filter=Q(batches__entered_at__isnull=True,
                                                              batches__due_at__lte=now)))
            .order_by("-overdue_count", "agency__name", "partner__name", "-pk"))


def access_partnership(user, pk) -> DataPartnership:
    """The partnership if `user` may see it; 404 otherwise (another agency's)."""
    return get_object_or_404(visible_partnerships(user).select_related("agency", "partner", "proposed_by",
                                                                       "decided_by", "ended_by"), pk=pk)


def access_batch(user, pk) -> IntakeBatch:
    return get_object_or_404(IntakeBatch.objects.filter(partnership__in=visible_partnerships(user).values("pk"))
                             .select_related("partnership"), pk=pk)


def batches(partnership) -> QuerySet[IntakeBatch]:
    return partnership.batches.select_related("recorded_by", "entered_recorded_by").order_by("-received_at", "-pk")


@dataclass
class Timeliness:
    batches: int
    intakes: int
    entered: int
    on_time: int
    overdue: int

    @property
    def on_time_share(self) -> int | None:
        """Percent of the entered batches that were entered by their deadline."""
        return round(100 * self.on_time / self.entered) if self.entered else None


def timeliness(partnership, *, now) -> Timeliness:
    figures = partnership.batches.aggregate(
        batches=Count("pk"), intakes=Sum("intake_count"),
        entered=Count("pk", filter=Q(entered_at__isnull=False)),
        on_time=Count("pk", filter=Q(entered_on_time=True)),
        overdue=Count("pk", filter=Q(entered_at__isnull=True, due_at__lte=now)))
    return Timeliness(figures["batches"], figures["intakes"] or 0, figures["entered"], figures["on_time"],
                      figures["overdue"])


def partner_choices(agency) -> QuerySet[Organization]:
    """Agencies that may be an HMIS data partner: those whose Organization
    Agreement is executed and in force (they participate in HMIS), other
    than the agency itself."""
    return participating_organizations().exclude(pk=agency.pk).order_by("name")
