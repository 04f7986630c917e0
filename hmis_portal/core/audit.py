"""Audit events: every state-changing service calls `record_event` inside its
transaction (STYLE §2), and every object page shows `events_for(obj)`."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import CharField, DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Cast

from . import registry
from .models import AuditEvent


def record_event(*, actor, subject, verb: str, from_state: str = "", to_state: str = "", reason: str = "",
                 data: dict | None = None, at: datetime | None = None) -> AuditEvent:
    """Record that `actor` (None for a scheduled job) did `verb` to `subject`,
    now, or `at` the moment the service itself records for it (its history
    then tells the day its page shows)."""
    extra = {"created_at": at} if at is not None else {}
    return AuditEvent.objects.create(
        **extra,
        actor=actor if actor is not None and actor.is_authenticated else None,
        verb=verb,
        content_type=ContentType.objects.get_for_model(subject, for_concrete_model=False),
        object_id=str(subject.pk),
        object_repr=str(subject)[:200],
        from_state=str(from_state or ""),
        to_state=str(to_state or ""),
        reason=reason or "",
        data=data or {},
    )


def record_events(*, actor, subjects, verb: str, from_state: str = "", to_state: str = "", reason: str = "") -> int:
    """One event per subject in a single insert, for set-based sweeps."""
    subjects = list(subjects)
    if not subjects:
        return 0
    content_type = ContentType.objects.get_for_model(subjects[0], for_concrete_model=False)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=actor,
                verb=verb,
                content_type=content_type,
                object_id=str(subject.pk),
                object_repr=str(subject)[:200],
                from_state=from_state,
                to_state=to_state,
                reason=reason,
            )
            for subject in subjects
        ],
        batch_size=1000,
    )
    return len(subjects)


def events_for(subject):
    """The timeline of one object, newest first, with the actors loaded."""
    return AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(subject, for_concrete_model=False),
        object_id=str(subject.pk),
    ).select_related("actor")


def events_for_all(subjects):
    """One timeline for several objects (an HMIS account and the requests
    about it), newest first."""
    condition = Q(pk__in=[])
    for subject in subjects:
        condition |= Q(content_type=ContentType.objects.get_for_model(subject, for_concrete_model=False),
                       object_id=str(subject.pk))
    return AuditEvent.objects.filter(condition).select_related("actor")


# Events on one page of an agency's history; older ones follow a "show older" link.
HISTORY_PAGE = 25


@dataclass(frozen=True)
class HistoryPage:
    """One page of a history, newest first; `older` is the cursor of the next
    page ('' on the last one), `newer` whether a newer page exists."""

    events: list
    older: str = ""
    newer: bool = False


def history_cursor(event) -> str:
    """Where a page after `event` starts: its moment and id (two events can share a moment)."""
    return f"{event.created_at.isoformat()}_{event.pk}"


def parse_history_cursor(text: str | None):
    """(moment, id) of a cursor, or None for a missing or malformed one (the newest page)."""
    moment, _, pk = (text or "").partition("_")
    try:
        parsed = datetime.fromisoformat(moment)
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None or not 0 < pk < 2 ** 63:
        return None
    return parsed, pk


# `created_at` in an expression no index answers (see agency_history).
_by_time = ExpressionWrapper(F("created_at") + Value(timedelta(0)), output_field=DateTimeField())


def _kind(queryset) -> Q:
    """Events of every object of `queryset` (one model): `content_type = X AND
    object_id IN (SELECT id::text FROM ... WHERE <the agency's>)`, which reads
    the (content_type, object_id, created_at) index once per object of the
    agency, never the other agencies' events."""
    content_type = ContentType.objects.get_for_model(queryset.model, for_concrete_model=False)
    keys = queryset.order_by().annotate(_event_key=Cast("pk", output_field=CharField())).values("_event_key")
    return Q(content_type=content_type, object_id__in=keys)


def agency_history(organization, user, *, before: str = "", limit: int = HISTORY_PAGE) -> HistoryPage:
    """An agency's whole story for `user`, a page at a time, newest first: its
    own events and those of the objects each app says belong to it and `user`
    may read. Apps contribute with `registry.agency_history_subjects.add(...)`
    in their `ready()` (a queryset per kind of object), so no earlier app
    imports a later one.

    Each kind is its own indexed query, cut at the page's cursor and at
    `limit + 1` rows, and the kinds are merged by time in the database
    (UNION ALL, then the newest `limit + 1`): one statement whose cost grows
    with the page, not with the agency's number of objects or events.
    `before` is `history_cursor` of the last event of the previous page."""
    kinds = [Q(content_type=ContentType.objects.get_for_model(organization, for_concrete_model=False),
               object_id=str(organization.pk))]
    for provider in registry.agency_history_subjects:
        kinds.extend(_kind(queryset) for queryset in provider(organization, user))
    cursor = parse_history_cursor(before)
    events = AuditEvent.objects.select_related("actor")
    if cursor is not None:
        moment, pk = cursor
        events = events.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
    if connections[AuditEvent.objects.db].features.supports_slicing_ordering_in_compound:
        # Each kind newest first by an expression, not the bare column: given
        # `ORDER BY created_at LIMIT n` PostgreSQL walks the whole table's
        # created_at index and tests every event against the agency's ids
        # (seconds when other agencies hold most events). Ordered this way it
        # reads the agency's objects, then each one's events on the
        # (content_type, object_id, created_at) index, and keeps the newest:
        # a cost that grows with this agency's events of the kind only.
        newest = [events.filter(kind).order_by(_by_time.desc(), F("id").desc())[:limit + 1] for kind in kinds]
        events = list(newest[0].union(*newest[1:], all=True).order_by("-created_at", "-id")[:limit + 1]
                      if len(newest) > 1 else newest[0])
    else:
        # SQLite cuts no part of a UNION: there (development), one query
        # with the kinds OR-ed, the same rows.
        events = list(events.filter(reduce(or_, kinds)).order_by("-created_at", "-id")[:limit + 1])
    older = history_cursor(events[limit - 1]) if len(events) > limit else ""
    events = events[:limit]
    return HistoryPage(events, older=older, newer=cursor is not None)
