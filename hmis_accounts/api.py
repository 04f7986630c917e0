"""Login activity in by API (SPEC §6): the HMIS vendor, or a CoC's script,
posts batches of last logins with the same meaning as the login report's
CSV import. Each batch is checked whole by the import's own reader; one bad
row and nothing changes (400, each bad row named by its place in the batch);
otherwise the import's service applies it in one transaction, audited as
the key's owner. A replay changes nothing: a login not later than the one
recorded never moves an account."""

import csv
import io

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import pluralize
import django_filters
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import access
from accounts.apikeys.models import Scope
from accounts.apikeys.read import ReadCollection, agency_filter, described
from hmis_access.models import HMISAccount
from .logins import read_login_report
from .services import record_hmis_logins

# The row the import's reader gets first: the report's own column names.
HEADER = ["HMIS username", "last login time"]


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="The HMIS username, as the portal recorded it at the grant.")
    last_login = serializers.DateTimeField(
        allow_null=True, required=False,
        help_text="ISO 8601, with an offset (a time without one is the CoC's local time); null or absent: "
                  "listed but never logged in.")


class LoginBatchSerializer(serializers.Serializer):
    logins = LoginSerializer(many=True)


class LoginBatchResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    updated = serializers.IntegerField(help_text="Accounts whose last login moved forwards.")
    unchanged = serializers.IntegerField(help_text="Accounts that already had that login or a later one.")
    never_logged_in = serializers.IntegerField()


class BadRowSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The row's place in `logins`, from 0.")
    username = serializers.CharField()
    problem = serializers.CharField()


class BadBatchSerializer(serializers.Serializer):
    detail = serializers.CharField()
    bad_rows = BadRowSerializer(many=True, required=False)


class MayImportLogins(BasePermission):
    """The key's owner may import the login report in the portal (the same
    predicate as the admin's upload page)."""

    message = "The key's owner may not import HMIS login activity (CoC provisioning staff and system administrators do)."

    def has_permission(self, request, view):
        return access.can_provision(request.user)


def _bad(index: int, username, problem: str) -> dict:
    return {"index": index, "username": username if isinstance(username, str) else "", "problem": problem}


def read_batch(data) -> tuple[object, list[dict]]:
    """The batch checked whole: (the import's report, bad rows). Each row
    goes to the login report's reader as one CSV line, so a batch and a file
    with the same rows mean the same."""
    if not isinstance(data, dict) or not isinstance(data.get("logins"), list):
        raise ParseError("Send a JSON object {\"logins\": [{\"username\": …, \"last_login\": …}, …]}.")
    rows = data["logins"]
    if len(rows) > settings.HMIS_LOGIN_BATCH_MAX:
        raise BatchTooLarge(f"A batch carries at most {settings.HMIS_LOGIN_BATCH_MAX:,} logins; this one has "
                            f"{len(rows):,}. Send the rest in further batches.")
    bad, places = [], []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            bad.append(_bad(index, "", "A row is an object with “username” and “last_login”."))
            continue
        username, login = row.get("username"), row.get("last_login")
        if not isinstance(username, str) or not username.strip():
            bad.append(_bad(index, username, "The HMIS username is missing or empty."))
            continue
        if login is not None and not isinstance(login, str):
            bad.append(_bad(index, username, "The last login is a date and time as text (ISO 8601), or null."))
            continue
        if any(ord(ch) < 32 for ch in username + (login or "")):
            # Also keeps each row on one line of the reader's CSV.
            bad.append(_bad(index, username.encode("unicode_escape").decode()[:40],
                            "The row contains a control character (such as NUL)."))
            continue
        writer.writerow([username, login or ""])
        places.append(index)
    buffer.seek(0)
    report = read_login_report(buffer)
    # The reader numbers lines from 1, the header first.
    bad.extend(_bad(places[line.line - 2], line.username, line.problem) for line in report.bad_rows)
    bad.sort(key=lambda row: row["index"])
    return report, bad


class BatchTooLarge(ParseError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class HMISLoginBatchView(APIView):
    required_scope = Scope.HMIS_LOGINS_WRITE.value
    permission_classes = [*APIView.permission_classes, MayImportLogins]

    @extend_schema(
        operation_id="hmis_logins_send",
        summary="Send a batch of HMIS last logins",
        description="The same as importing the HMIS login report: the whole batch is checked first and applied "
                    "all or nothing; a login not later than the one recorded changes nothing, so a replay is "
                    "harmless. Needs the scope `hmis-logins:write` and a key whose owner imports logins.",
        request=LoginBatchSerializer,
        responses={
            200: LoginBatchResultSerializer,
            400: OpenApiResponse(BadBatchSerializer, description="Bad rows, each named; nothing was changed."),
            401: OpenApiResponse(description="No key, or a key that is unknown, revoked or rotated."),
            403: OpenApiResponse(description="The key lacks the scope, or its owner may not import logins."),
            413: OpenApiResponse(description="Too many logins, or too large a body, for one batch."),
            429: OpenApiResponse(description="Too many requests with this key; see Retry-After."),
        },
        examples=[OpenApiExample("A batch", request_only=True, value={"logins": [
            {"username": "avery.one", "last_login": "2026-12-01T08:15:00-08:00"},
            {"username": "blake.two", "last_login": None}]})],
    )
    def post(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.HMIS_LOGIN_BATCH_MAX_BYTES:
            raise BatchTooLarge(f"A batch's body is at most {settings.HMIS_LOGIN_BATCH_MAX_BYTES:,} bytes; send "
                                "fewer logins at a time.")
        try:
            report, bad = read_batch(request.data)
        except ValidationError as exc:
            raise ParseError(" ".join(exc.messages)) from None
        if bad:
            return Response({"detail": f"{len(bad)} bad row{pluralize(len(bad))} of {len(request.data['logins'])}: "
                                       "nothing was changed. Fix them and send the whole batch again.",
                             "bad_rows": bad}, status=status.HTTP_400_BAD_REQUEST)
        key = request.auth
        with transaction.atomic():
            # All or nothing: the import (its batches and its audit event) is part of this one transaction.
            result = record_hmis_logins(logins=report.logins, actor=request.user,
                                        report={**report.counts(), "api_key": key.pk})
        return Response({"rows": report.rows, "updated": result.updated, "unchanged": result.unchanged,
                         "never_logged_in": report.never_logged_in})


# --- the read API's HMIS accounts --------------------------------------------------------------------------------

class HMISAccountFilter(django_filters.FilterSet):
    agency = agency_filter()
    status = django_filters.ChoiceFilter(choices=HMISAccount.Status.choices)

    class Meta:
        model = HMISAccount
        fields = []


class HMISAccountSerializer(serializers.ModelSerializer):
    agency = serializers.IntegerField(source="organization_id", read_only=True)
    person = serializers.IntegerField(source="user_id", read_only=True)
    person_name = serializers.CharField(source="user.get_full_name", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = HMISAccount
        fields = ["id", "agency", "person", "person_name", "hmis_username", "hmis_role", "status", "status_label",
                  "provisioned_at", "last_hmis_login_at", "inactive_since", "inactive_reason", "reactivated_at",
                  "must_log_in_by", "retraining_required"]


@described(HMISAccountSerializer, "HMIS accounts, their status and last login",
           detail="An HMIS account, its status and last login")
class HMISAccountCollection(ReadCollection):
    """What the agency's accounts page and the staff's overview show: an
    agency's leads their agency's accounts, the CoC staff who watch accounts
    every agency's they may see, anyone their own
    (`accounts.access.restrict_hmis_accounts`)."""

    serializer_class = HMISAccountSerializer
    filterset_class = HMISAccountFilter

    def get_queryset(self):
        return access.restrict_hmis_accounts(HMISAccount.objects.select_related("user"), self.request.user)
