"""Home-page tasks for CoC training staff (hmis_portal.core.work)."""

import datetime as dt

from django.db.models import Count, Q
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from accounts.access import can_review_training
from hmis_portal.core.work import OpenTask

from .models import Certificate, FormSubmission, Registration, Review, TrainingSession

ATTENDANCE_WINDOW = dt.timedelta(days=14)


def open_tasks(user) -> list[OpenTask]:
    if not can_review_training(user):
        return []
    tasks = []
    certificates = Certificate.objects.filter(status=Review.SUBMITTED).count()
    if certificates:
        tasks.append(OpenTask(f"Verify {certificates} completion certificate{pluralize(certificates)}",
                              reverse("admin:training_certificate_changelist") + "?status__exact=submitted",
                              section="Training"))
    forms = FormSubmission.objects.filter(status=Review.SUBMITTED).count()
    if forms:
        tasks.append(OpenTask(f"Verify {forms} signed user form{pluralize(forms)}",
                              reverse("admin:training_formsubmission_changelist") + "?status__exact=submitted",
                              section="Training"))
    now = timezone.now()
    sessions = (TrainingSession.objects.filter(starts_at__lte=now, starts_at__gte=now - ATTENDANCE_WINDOW,
                                               cancelled=False)
                .annotate(unrecorded=Count("registrations", filter=Q(registrations__status=Registration.Status.REGISTERED)))
                .filter(unrecorded__gt=0).select_related("course"))
    for session in sessions:
        tasks.append(OpenTask(f"Record attendance: {session}",
                              reverse("admin:training_registration_changelist") + f"?session__id__exact={session.pk}",
                              section="Training", detail=f"{session.unrecorded} registration{pluralize(session.unrecorded)} not yet recorded"))
    return tasks
