"""Registering (waitlist, cancel, .ics), attendance, certificates and forms."""

import datetime as dt
from urllib.parse import urlsplit

import icalendar
import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core.models import AuditEvent, Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import identify, participating, pdf, session
from training import services
from training.models import Certificate, Completion, Course, FormSubmission, Registration, RequiredForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


def _people(organization, n):
    return [MembershipFactory(organization=organization).user for _ in range(n)]


def test_a_full_session_waitlists_and_a_cancellation_promotes_the_first_waiting(organization):
    seats = session("hmis-10", capacity=2)
    a, b, c, d = _people(organization, 4)
    statuses = [services.session_register(actor=p, session_id=seats.pk).status for p in (a, b, c, d)]
    assert statuses == ["registered", "registered", "waitlisted", "waitlisted"]
    mine = Registration.objects.get(user=a)
    services.registration_cancel(actor=a, registration_id=mine.pk)
    assert dict(Registration.objects.values_list("user_id", "status")) == {
        a.pk: "cancelled", b.pk: "registered", c.pk: "registered", d.pk: "waitlisted"}
    assert Notification.objects.filter(to_email=c.email, subject__startswith="A seat opened").exists()


def test_registering_twice_keeps_one_registration(organization):
    seats = session("hmis-10")
    (person,) = _people(organization, 1)
    first = services.session_register(actor=person, session_id=seats.pk)
    again = services.session_register(actor=person, session_id=seats.pk)
    assert first.pk == again.pk and Registration.objects.count() == 1


def test_cancelling_a_waitlisted_place_promotes_nobody(organization):
    seats = session("hmis-10", capacity=1)
    a, b, c = _people(organization, 3)
    for p in (a, b, c):
        services.session_register(actor=p, session_id=seats.pk)
    services.registration_cancel(actor=b, registration_id=Registration.objects.get(user=b).pk)
    assert Registration.objects.get(user=c).status == "waitlisted"


def test_attendance_completes_the_course_and_twice_changes_nothing(organization, trainer):
    seats = session("hmis-10", days=1)
    (person,) = _people(organization, 1)
    registration = services.session_register(actor=person, session_id=seats.pk)
    with pytest.raises(ValidationError, match="has not started yet"):
        services.registration_record_attendance(actor=trainer, registration_id=registration.pk)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        services.registration_record_attendance(actor=trainer, registration_id=registration.pk)
        with pytest.raises(ValidationError, match="already recorded; nothing changed"):
            services.registration_record_attendance(actor=trainer, registration_id=registration.pk)
    assert Completion.objects.filter(user=person, course__code="hmis-10", source="attendance").count() == 1
    assert AuditEvent.objects.filter(verb="recorded attendance").count() == 1


def test_admin_action_records_attendance_once_and_reports_the_repeat(client, organization, trainer):
    seats = session("hmis-10", days=1)
    (person,) = _people(organization, 1)
    registration = services.session_register(actor=person, session_id=seats.pk)
    url = reverse("admin:training_registration_changelist")
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        client.force_login(trainer)
        client.post(url, {"action": "record_attendance", "_selected_action": [registration.pk]})
        response = client.post(url, {"action": "record_attendance", "_selected_action": [registration.pk]},
                               follow=True)
    assert "already recorded; nothing changed" in response.content.decode()
    assert Completion.objects.filter(user=person).count() == 1


def test_a_certificate_for_the_wrong_course_is_returned_with_a_reason(organization, trainer):
    (person,) = _people(organization, 1)
    certificate = services.certificate_submit(actor=person, course=Course.objects.get(code="hmis-102"),
                                              completed_on=dt.date(2026, 10, 1), document=pdf())
    with pytest.raises(ValidationError, match="Give a reason"):
        services.certificate_return(actor=trainer, certificate_id=certificate.pk, reason=" ")
    services.certificate_return(actor=trainer, certificate_id=certificate.pk,
                                reason="This certificate is for HMIS 101, not HMIS 102.")
    certificate.refresh_from_db()
    assert certificate.status == "returned" and not Completion.objects.exists()
    assert Notification.objects.filter(to_email=person.email, body__contains="not HMIS 102").exists()
    with pytest.raises(ValidationError, match="nothing changed"):
        services.certificate_verify(actor=trainer, certificate_id=certificate.pk)


def test_a_verified_certificate_completes_the_course_and_what_it_covers(organization, trainer):
    participating(organization, "assessment-only")
    request = identify(organization, role_codes=("assessment-only",),
                       programs=list(organization.programs.all()))
    certificate = services.certificate_submit(actor=request.user, course=Course.objects.get(code="hmis-509-full"),
                                              completed_on=dt.date(2026, 10, 1), document=pdf())
    services.certificate_verify(actor=trainer, certificate_id=certificate.pk)
    from hmis_access.checklist import build_checklist

    item = next(i for i in build_checklist(request).items if i.kind == "course" and "509" in i.label)
    assert item.label.startswith("HMIS 509 first half") and item.done


def test_a_certificate_that_is_not_a_document_is_refused_by_the_upload(client, member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(member)
    response = client.post(reverse("training:certificate-upload"), {
        "course": Course.objects.get(code="hmis-10").pk, "completed_on": "2026-10-01",
        "document": SimpleUploadedFile("cert.pdf", b"MZ not a pdf")})
    assert "not a PDF, PNG or JPEG" in response.content.decode()
    assert not Certificate.objects.exists()


def test_forms_are_versioned_returned_with_a_reason_and_verified(organization, trainer):
    (person,) = _people(organization, 1)
    agreement = RequiredForm.objects.get(code="user-agreement")
    first = services.form_submit(actor=person, form=agreement, document=pdf())
    services.form_return(actor=trainer, submission_id=first.pk, reason="Page 2 is missing.")
    second = services.form_submit(actor=person, form=agreement, document=pdf())
    assert (first.version, second.version) == (1, 2)
    third = services.form_submit(actor=person, form=agreement, document=pdf())
    second.refresh_from_db()
    assert second.status == "superseded"
    services.form_verify(actor=trainer, submission_id=third.pk)
    with pytest.raises(ValidationError, match="already verified"):
        services.form_submit(actor=person, form=agreement, document=pdf())
    assert FormSubmission.objects.filter(user=person).count() == 3
    with pytest.raises(ValidationError, match="nothing changed"):
        services.form_verify(actor=trainer, submission_id=third.pk)


def test_the_ics_file_describes_the_session(client, organization):
    course = Course.objects.get(code="hmis-511")
    # The longest title staff can give a course, with letters of more than one
    # octet: every line is still folded to 75 octets.
    course.title = ("HMIS 511 — Coordinated Entry System assessments, matching, référencement "
                    "and the housing navigator's role in the by-name list ")[:150]
    course.save(update_fields=["title"])
    seats = session("hmis-511", location="")
    (person,) = _people(organization, 1)
    registration = services.session_register(actor=person, session_id=seats.pk)
    client.force_login(person)
    response = client.get(reverse("training:registration-ics", args=[registration.pk]))
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content
    lines = body.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75 and any(line.startswith(b" ") for line in lines)
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["VERSION"]) == "2.0" and "Training" in str(calendar["PRODID"])
    (event,) = calendar.events
    assert str(event["UID"]) == f"training-registration-{registration.pk}@{urlsplit(settings.PORTAL_BASE_URL).hostname}"
    assert str(event["SUMMARY"]) == course.title
    assert str(event["LOCATION"]) == str(event["URL"]) == seats.webinar_url
    # The same moments, written in the CoC's time zone (with its VTIMEZONE).
    assert event.start == seats.starts_at.replace(microsecond=0)
    assert event.end == seats.ends_at.replace(microsecond=0)
    assert event.start.tzinfo.key == settings.TIME_ZONE
    assert not calendar.get_missing_tzids()


def test_someone_else_s_registration_is_a_404(client, organization):
    seats = session("hmis-10")
    a, b = _people(organization, 2)
    registration = services.session_register(actor=a, session_id=seats.pk)
    client.force_login(b)
    assert client.get(reverse("training:registration-ics", args=[registration.pk])).status_code == 404
    assert client.post(reverse("training:registration-cancel", args=[registration.pk])).status_code == 404
    registration.refresh_from_db()
    assert registration.status == "registered"


def test_a_session_needs_a_place_or_link():
    start = timezone.now()
    bad = session("hmis-10")
    bad.webinar_url = ""
    with pytest.raises(ValidationError, match="webinar link or a place"):
        bad.full_clean()
    bad.location = "Room 1"
    bad.ends_at = start - dt.timedelta(hours=1)
    bad.starts_at = start
    with pytest.raises(ValidationError, match="end after it starts"):
        bad.full_clean()


def test_the_sessions_page_uses_a_constant_number_of_queries(client, member, django_assert_max_num_queries):
    for days in range(1, 8):
        session("hmis-10", days=days)
    client.force_login(member)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("training:sessions"))
    assert response.content.decode().count("Register for HMIS 10") == 7
