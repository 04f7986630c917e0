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
    # Sessions of the last two weeks with registrations not yet recorded: one
    # is named, several are counted (the registrations list has them all).
    sessions = (TrainingSession.objects.filter(starts_at__lte=now, starts_at__gte=now - ATTENDANCE_WINDOW,
                                               cancelled=False)
                .annotate(unrecorded=Count("registrations", filter=Q(registrations__status=Registration.Status.REGISTERED)))
                .filter(unrecorded__gt=0).select_related("course").order_by("starts_at", "pk"))
    first_two = list(sessions[:2])
    registrations = reverse("admin:training_registration_changelist")
    if len(first_two) == 1:
        session = first_two[0]
        tasks.append(OpenTask(f"Record attendance: {session}", f"{registrations}?session__id__exact={session.pk}",
                              section="Training", detail=f"{session.unrecorded} registration{pluralize(session.unrecorded)} not yet recorded"))
    elif first_two:
        found = Registration.objects.filter(session__in=sessions.values("pk"),
                                            status=Registration.Status.REGISTERED).aggregate(
            sessions=Count("session_id", distinct=True), registrations=Count("pk"))
        tasks.append(OpenTask(f"Record attendance for {found['sessions']} sessions",
                              f"{registrations}?status__exact={Registration.Status.REGISTERED}", section="Training",
                              detail=f"{found['registrations']} registration{pluralize(found['registrations'])} not "
                                     f"yet recorded; the earliest: {first_two[0]}."))
    return tasks
