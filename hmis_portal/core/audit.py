"""Audit events: every state-changing service calls `record_event` inside its
transaction (STYLE §2), and every object page shows `events_for(obj)`."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from . import registry
from .models import AuditEvent


def record_event(*, actor, subject, verb: str, from_state: str = "", to_state: str = "", reason: str = "",
                 data: dict | None = None) -> AuditEvent:
    """Record that `actor` (None for a scheduled job) did `verb` to `subject`."""
    return AuditEvent.objects.create(
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


def agency_history(organization, user, *, limit: int = 100):
    """An agency's whole story for `user`: its own events and those of the
    objects each app says belong to it and `user` may read. Apps contribute
    with `registry.agency_history_subjects.add(...)` in their `ready()`, so no
    earlier app imports a later one."""
    subjects = [organization]
    for provider in registry.agency_history_subjects:
        subjects.extend(provider(organization, user))
    return events_for_all(subjects)[:limit]
