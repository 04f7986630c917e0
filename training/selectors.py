"""Reads of training records, narrowed to what the person may see (STYLE §4)."""

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.access import in_coc_group, restrict
from accounts.models import CoCGroup, Persona

from .models import Certificate, FormSubmission, Registration, TrainingSession

DOCUMENT_VIEWERS = (Persona.EXECUTIVE_DIRECTOR, Persona.PROGRAM_MANAGER, Persona.AGENCY_ADMINISTRATOR)
COC_DOCUMENT_VIEWERS = (CoCGroup.TRAINING, CoCGroup.PROVISIONING, CoCGroup.SYSTEM_ADMIN)


def upcoming_sessions(*, course_code: str | None = None):
    sessions = (TrainingSession.objects.filter(starts_at__gt=timezone.now(), cancelled=False)
                .select_related("course")
                .annotate(taken=Count("registrations", filter=Q(registrations__status__in=["registered", "attended"])),
                          waiting=Count("registrations", filter=Q(registrations__status="waitlisted"))))
    if course_code:
        sessions = sessions.filter(course__code=course_code)
    return sessions.order_by("starts_at", "pk")


def my_registrations(user):
    return (Registration.objects.filter(user=user).exclude(status=Registration.Status.CANCELLED)
            .select_related("session__course").order_by("session__starts_at"))


def access_registration(user, pk) -> Registration:
    """A person's own registration; anyone else's is a 404."""
    return get_object_or_404(Registration.objects.select_related("session__course"), pk=pk, user=user)


def _access_document(model, user, pk):
    """The owner, the owner's agency leads, and CoC training, provisioning and
    system admin staff may open a person's certificate or form; anyone else at
    another agency gets a 404."""
    obj = get_object_or_404(model.objects.select_related("user"), pk=pk)
    if obj.user_id == user.pk:
        return obj
    if user.is_staff:
        if in_coc_group(user, *COC_DOCUMENT_VIEWERS):
            return obj
        raise PermissionDenied("Only CoC training, provisioning and system admin staff open these documents.")
    visible = restrict(obj.user.memberships.all(), user)
    if not visible.exists():
        from django.http import Http404

        raise Http404("No document")
    if not visible.filter(organization__memberships__user=user,
                          organization__memberships__persona__in=DOCUMENT_VIEWERS).exists():
        raise PermissionDenied("Only the person, their agency's leads and CoC staff open this document.")
    return obj


def access_certificate(user, pk) -> Certificate:
    return _access_document(Certificate, user, pk)


def access_form_submission(user, pk) -> FormSubmission:
    return _access_document(FormSubmission, user, pk)
