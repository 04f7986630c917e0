"""Home-page tasks for CoC training staff, and for the agency people whose
turn it is to sign a user's form (hmis_portal.core.work)."""

import datetime as dt
from collections.abc import Generator

from django.db.models import Count, Q
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from accounts.access import agencies_of, can_review_training, members_of, signing_places, signs_in_place
from hmis_portal.core.prepared import Prepared, total_n, totals
from hmis_portal.core.work import OpenTask

from .models import Certificate, FormSubmission, Registration, RequiredForm, Review, Signer, TrainingSession

ATTENDANCE_WINDOW = dt.timedelta(days=14)
# Forms being signed read for one person's home page, oldest first.
SIGNING_TASK_LIMIT = 20


def signing_tasks(user) -> list[OpenTask]:
    """The users' forms whose next place is this person's (the Agency
    Administrator after the user, the Executive Director after the Agency
    Administrator): two queries for all of them, none for a person who holds
    no persona."""
    places = signing_places(user)
    if places:
        later = RequiredForm.later_signers()
        places = {role: agencies for role, agencies in places.items() if role in later}
    agencies = set().union(*places.values()) if places else set()
    if not agencies:
        return []
    rows = list(FormSubmission.objects.filter(status=Review.SIGNING, user__is_active=True, form__active=True,
                                              user__in=members_of(agencies))
                .exclude(user=user)
                .annotate(signed=Count("signatures"))
                .select_related("form", "user")
                .order_by("submitted_at", "pk")[:SIGNING_TASK_LIMIT * 5])
    shared = agencies_of({submission.user_id for submission in rows}, agencies) if rows else {}
    tasks = []
    for submission in rows:
        roles = submission.form.signer_roles
        if submission.signed >= len(roles):
            continue
        role = roles[submission.signed]
        if not signs_in_place(places, user, submission.user_id, shared.get(submission.user_id, ()), role):
            continue
        owner, form = submission.user, submission.form
        tasks.append(OpenTask(
            f"Sign {owner}'s {form.title}",
            reverse("training:form-person", kwargs={"code": form.code, "user_id": owner.pk}), section="User forms",
            detail=f"Signed by {submission.signed} of {len(roles)}; you sign next, as {Signer(role).label}."))
    return tasks[:SIGNING_TASK_LIMIT]


# What waits on the training staff's verification: the same two counts for all of them.
_SUBMITTED_CERTIFICATES = Prepared(lambda: totals(Certificate.objects.filter(status=Review.SUBMITTED), n=Count("pk")))
_SUBMITTED_FORMS = Prepared(lambda: totals(FormSubmission.objects.filter(status=Review.SUBMITTED), n=Count("pk")))


def open_tasks(user) -> Generator[tuple, tuple, list[OpenTask]]:
    if not user.is_authenticated:
        return []
    if not can_review_training(user):
        return signing_tasks(user)
    tasks = []
    # Both counts asked with the other to-dos' questions (core.work).
    certificates, forms = yield (_SUBMITTED_CERTIFICATES.ask().then(total_n), _SUBMITTED_FORMS.ask().then(total_n))
    if certificates:
        tasks.append(OpenTask(f"Verify {certificates} completion certificate{pluralize(certificates)}",
                              reverse("admin:training_certificate_changelist") + "?status__exact=submitted",
                              section="Training"))
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
