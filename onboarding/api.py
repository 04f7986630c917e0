"""The read API's agencies (with their participation stage) and programs
(with their setup state). A key reads the agencies its owner may see in the
portal (`accounts.access.restrict`), filtered as the CES Participation Status
List is (`filtersets.StatusListFilter`); the stage is derived as on the
pages, from the agencies' agreements and programs read once per page."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.access import restrict
from accounts.apikeys.read import ReadCollection, agency_filter, described
from accounts.models import Organization
from hmis_portal.core.calendar import local_date

from .filtersets import StatusListFilter
from .models import OrganizationAgreement, ParticipationStage, Program
from .selectors import stage_from


class AgencyFilter(StatusListFilter):
    def filter_stage(self, queryset, name, value):
        # The stage is derived row by row (`stage_from`), as on the status
        # list: the agencies at it are found among those the key may read
        # (their agreements and programs read once), then cut into pages by id.
        today = local_date()
        return queryset.filter(pk__in=[
            organization.pk for organization in queryset
            if stage_from(list(organization.agreements.all()), list(organization.programs.all()), today=today) == value])


class AgencySerializer(serializers.ModelSerializer):
    participation_stage = serializers.SerializerMethodField(
        help_text="Where the agency stands in steps 1–2 (agreement, program setup), as on the status list.")
    participation_stage_label = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "created_at", "participation_stage", "participation_stage_label"]

    def _stage(self, organization) -> ParticipationStage:
        today = self.context.setdefault("today", local_date())
        return stage_from(list(organization.agreements.all()), list(organization.programs.all()), today=today)

    @extend_schema_field(serializers.ChoiceField(choices=ParticipationStage.choices))
    def get_participation_stage(self, organization) -> str:
        return self._stage(organization).value

    def get_participation_stage_label(self, organization) -> str:
        return self._stage(organization).label


@described(AgencySerializer, "Agencies and their participation stage", detail="An agency and its participation stage")
class AgencyCollection(ReadCollection):
    """The agencies the key's owner may see in the portal, each with its participation stage
    (derived from its agreements and programs as on the CES Participation Status List), filtered
    as that list is: `q` (agency or program name), `stage`, `role` (a CES role's code), `program_type`."""

    serializer_class = AgencySerializer
    filterset_class = AgencyFilter

    def get_queryset(self):
        return restrict(Organization.objects.all(), self.request.user, organization_field="pk").prefetch_related(
            Prefetch("agreements", queryset=OrganizationAgreement.objects.order_by("-created_at", "-id")),
            Prefetch("programs", queryset=Program.objects.only("id", "organization_id", "setup_status")),
        )


class ProgramFilter(django_filters.FilterSet):
    agency = agency_filter()
    setup_status = django_filters.ChoiceFilter(choices=Program.SetupStatus.choices)

    class Meta:
        model = Program
        fields = []


class ProgramSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="organization_id", read_only=True)
    program_type = serializers.CharField(source="program_type.code", read_only=True)
    program_type_name = serializers.CharField(source="program_type.name", read_only=True)
    setup_status_label = serializers.CharField(source="get_setup_status_display", read_only=True)

    class Meta:
        model = Program
        fields = ["id", "agency", "name", "program_type", "program_type_name", "request_kind", "setup_status",
                  "setup_status_label", "status_changed_at", "hmis_program_id", "setup_completed_at",
                  "confirmed_at"]


@described(ProgramSerializer, "Programs and their setup state", detail="A program and its setup state")
class ProgramCollection(ReadCollection):
    """The programs of the agencies the key's owner may see, with their setup state."""

    serializer_class = ProgramSerializer
    filterset_class = ProgramFilter

    def get_queryset(self):
        return restrict(Program.objects.select_related("program_type"), self.request.user)
