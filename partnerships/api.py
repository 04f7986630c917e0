"""The read API's data partnerships: those the key's owner sees on the
partnerships page (`selectors.visible_partnerships`: the people of either
agency, and the CoC staff who look after partnerships). The MOA itself is a
private document and stays on the pages."""

import django_filters
from rest_framework import serializers

from accounts.apikeys.read import ReadCollection, agency_filter, described

from .models import DataPartnership
from .selectors import visible_partnerships


class PartnershipFilter(django_filters.FilterSet):
    agency = agency_filter("agency_id")
    partner = django_filters.NumberFilter(field_name="partner_id", min_value=1, max_value=2**31 - 1)
    status = django_filters.ChoiceFilter(choices=DataPartnership.Status.choices)

    class Meta:
        model = DataPartnership
        fields = []


class PartnershipSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="agency_id", read_only=True,
                                      help_text="The agency that does not use HMIS and sends its intakes.")
    partner = serializers.IntegerField(source="partner_id", read_only=True,
                                       help_text="The agency that enters the intakes into HMIS.")
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = DataPartnership
        fields = ["id", "agency", "partner", "status", "status_label", "moa_signed_on", "proposed_at",
                  "decided_at", "ended_at"]


@described(PartnershipSerializer, "Data partnerships", detail="A data partnership")
class PartnershipCollection(ReadCollection):
    """Data partnerships (MOAs) of the agencies the key's owner belongs to, on either side; the
    CoC staff who look after partnerships read every agency's they may see."""

    serializer_class = PartnershipSerializer
    filterset_class = PartnershipFilter

    def get_queryset(self):
        return visible_partnerships(self.request.user)
