"""Reads of training records, narrowed to what the person may see (STYLE §4)."""

from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.access import can_read_user_document, is_coc_staff, require, restrict
from accounts.models import Organization

from .models import Certificate, FormSubmission, Registration, TrainingSession

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
    """The owner, the leads of an agency the owner belongs to, and the CoC
    staff who verify or provision may open a person's certificate or form
    (`accounts.access.can_read_user_document`). Someone who cannot see any of
    the owner's agencies gets a 404: the document's existence is not told."""
    obj = get_object_or_404(model.objects.select_related("user"), pk=pk)
    if obj.user_id == user.pk:
        return obj
    organization_ids = list(obj.user.memberships.values_list("organization_id", flat=True))
    if not is_coc_staff(user) and not restrict(Organization.objects.filter(pk__in=organization_ids), user,
                                               organization_field="pk").exists():
        raise Http404("No document")
    require(can_read_user_document(user, obj.user, organization_ids),
            "Only the person, their agency's leads and the CoC's training and provisioning staff open this document.")
    return obj


def access_certificate(user, pk) -> Certificate:
    return _access_document(Certificate, user, pk)


def access_form_submission(user, pk) -> FormSubmission:
    return _access_document(FormSubmission, user, pk)
