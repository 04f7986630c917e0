"""Training staff record attended or no-show; completing a course releases the
person's other seats for it and gives them to the waitlist; the certificate
list links to each document."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core.models import AuditEvent, Notification
from hmis_portal.core.prepared import answer
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import pdf, session
from training import services
from training.models import Certificate, Completion, Course, Registration
from training.work import open_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


def _people(organization, n):
    return [MembershipFactory(organization=organization).user for _ in range(n)]


def test_a_no_show_is_recorded_once_gives_no_completion_and_is_no_longer_open_work(organization, trainer):
    seats = session("hmis-10", days=1)
    (person,) = _people(organization, 1)
    registration = services.session_register(actor=person, session_id=seats.pk)
    with pytest.raises(ValidationError, match="has not started yet"):
        services.registration_record_no_show(actor=trainer, registration_id=registration.pk)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        assert [t.title for t in answer(open_tasks(trainer)) if t.title.startswith("Record attendance")]
        services.registration_record_no_show(actor=trainer, registration_id=registration.pk)
        with pytest.raises(ValidationError, match="already recorded; nothing changed"):
            services.registration_record_no_show(actor=trainer, registration_id=registration.pk)
        with pytest.raises(ValidationError, match="no-show"):
            services.registration_record_attendance(actor=trainer, registration_id=registration.pk)
        with pytest.raises(ValidationError):
            services.registration_cancel(actor=person, registration_id=registration.pk)
        assert not [t for t in answer(open_tasks(trainer)) if t.title.startswith("Record attendance")]
    registration.refresh_from_db()
    assert registration.status == Registration.Status.NO_SHOW
    assert not Completion.objects.filter(user=person).exists()
    assert AuditEvent.objects.filter(verb="recorded no-show").count() == 1
    assert Notification.objects.filter(to_email=person.email, subject__startswith="Missed").count() == 1


def test_admin_records_no_show(client, organization, trainer):
    seats = session("hmis-10", days=1)
    (person,) = _people(organization, 1)
    registration = services.session_register(actor=person, session_id=seats.pk)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        client.force_login(trainer)
        response = client.post(reverse("admin:training_registration_changelist"),
                               {"action": "record_no_show", "_selected_action": [registration.pk]}, follow=True)
    assert "No-show recorded for 1 registration." in response.content.decode()
    registration.refresh_from_db()
    assert registration.status == Registration.Status.NO_SHOW


def test_attending_releases_other_seats_for_the_course_and_promotes_the_waitlist(organization, trainer):
    first = session("hmis-10", days=1)
    later = session("hmis-10", days=10, capacity=1)
    other_course = session("hmis-102", days=10)
    person, waiting = _people(organization, 2)
    attended = services.session_register(actor=person, session_id=first.pk)
    spare = services.session_register(actor=person, session_id=later.pk)
    kept = services.session_register(actor=person, session_id=other_course.pk)
    assert services.session_register(actor=waiting, session_id=later.pk).status == "waitlisted"
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        services.registration_record_attendance(actor=trainer, registration_id=attended.pk)
    spare.refresh_from_db()
    kept.refresh_from_db()
    assert spare.status == Registration.Status.CANCELLED and kept.status == Registration.Status.REGISTERED
    assert Registration.objects.get(user=waiting, session=later).status == Registration.Status.REGISTERED
    released = AuditEvent.objects.get(verb="released registration: course completed")
    assert released.object_id == str(spare.pk) or released.object_id == spare.pk
    assert Notification.objects.filter(to_email=waiting.email, subject__startswith="A seat opened").exists()


def test_a_verified_certificate_releases_seats_and_waitlist_places_for_the_course(organization, trainer):
    full = session("hmis-10", days=5, capacity=1)
    other, person = _people(organization, 2)
    services.session_register(actor=other, session_id=full.pk)
    place = services.session_register(actor=person, session_id=full.pk)
    assert place.status == "waitlisted"
    certificate = services.certificate_submit(actor=person, course=Course.objects.get(code="hmis-10"),
                                              completed_on=dt.date(2026, 1, 5), document=pdf())
    services.certificate_verify(actor=trainer, certificate_id=certificate.pk)
    place.refresh_from_db()
    assert place.status == Registration.Status.CANCELLED
    assert Registration.objects.get(user=other, session=full).status == Registration.Status.REGISTERED


def test_the_certificate_list_links_to_each_document(client, organization, trainer):
    (person,) = _people(organization, 1)
    certificate = services.certificate_submit(actor=person, course=Course.objects.get(code="hmis-102"),
                                              completed_on=dt.date(2026, 1, 5), document=pdf())
    client.force_login(trainer)
    page = client.get(reverse("admin:training_certificate_changelist")).content.decode()
    link = reverse("training:certificate-document", args=[certificate.pk])
    assert f'href="{link}"' in page
    assert client.get(link).status_code == 200
    assert Certificate.objects.count() == 1


def test_a_full_session_s_button_is_named_for_the_waitlist(client, organization):
    full = session("hmis-10", capacity=1)
    taker, person = _people(organization, 2)
    services.session_register(actor=taker, session_id=full.pk)
    client.force_login(person)
    page = client.get(reverse("training:sessions")).content.decode()
    assert f'aria-label="Join the waitlist for {full}">Join the waitlist</button>' in page
    assert "Register for" not in page
