"""The read API's access requests, with their state and provisioning
deadline. A key reads what its owner sees in the portal: an agency's leads
their agency's requests, CoC staff who see users' access every agency's they
may see, anyone their own (`accounts.access.restrict_user_access`)."""

import django_filters
from rest_framework import serializers

from accounts.access import restrict_user_access
from accounts.apikeys.read import ReadCollection, agency_filter, described

from .models import AccessRequest


class AccessRequestFilter(django_filters.FilterSet):
    agency = agency_filter()
    status = django_filters.ChoiceFilter(choices=AccessRequest.Status.choices)

    class Meta:
        model = AccessRequest
        fields = []


class AccessRequestSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="organization_id", read_only=True)
    person = serializers.IntegerField(source="user_id", read_only=True)
    person_name = serializers.CharField(source="user.get_full_name", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    provisioning_due_at = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text="The provisioning deadline (business days from ready), once the request is ready.")

    class Meta:
        model = AccessRequest
        fields = ["id", "agency", "person", "person_name", "new_hmis_user", "status", "status_label", "created_at",
                  "decided_at", "ready_at", "provisioning_due_at", "provisioned_at", "hmis_role"]


@described(AccessRequestSerializer, "Access requests, their state and deadline",
           detail="An access request, its state and deadline")
class AccessRequestCollection(ReadCollection):
    """Access requests as the agency's user access pages show them: an agency's leads read their
    agency's, the CoC staff who see users' access every agency's they may see, anyone their own.
    `provisioning_due_at` is the provisioning deadline, set when the request becomes ready."""

    serializer_class = AccessRequestSerializer
    filterset_class = AccessRequestFilter

    def get_queryset(self):
        return restrict_user_access(AccessRequest.objects.select_related("user"), self.request.user)
