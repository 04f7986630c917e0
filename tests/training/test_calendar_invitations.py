"""A registration's calendar event over its life: one UID under the portal's
domain, a SEQUENCE that grows with every change, a STATUS that says what the
place is, and mails that carry an invitation calendar apps apply (REQUEST for
a new or moved place, CANCEL for one that is off), beside an HTML part."""

import datetime as dt
from email import message_from_bytes

import icalendar
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core import outbox
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import session
from training import services
from training.models import Registration

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def portal(settings):
    settings.PORTAL_BASE_URL = "https://hmis.coc.example.org"
    settings.DEFAULT_FROM_EMAIL = "training@coc.example.org"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


def _people(organization, n):
    return [MembershipFactory(organization=organization, persona="staff").user for _ in range(n)]


def _event(client, person, registration):
    client.force_login(person)
    response = client.get(reverse("training:registration-ics", args=[registration.pk]))
    calendar = icalendar.Calendar.from_ical(response.content)
    (event,) = calendar.events
    return calendar, event


def _sent(person, subject_start):
    """The mail `person` was sent, as their mail system receives it (bytes parsed back)."""
    message = Notification.objects.get(to_email=person.email, subject__startswith=subject_start)
    mail.outbox.clear()
    assert outbox.deliver(message.pk)
    (sent,) = mail.outbox
    return message_from_bytes(sent.message().as_bytes())


def _parts(parsed):
    return {part.get_content_type(): part for part in parsed.walk() if not part.is_multipart()}


def _invitation(parsed):
    part = _parts(parsed)["text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    (event,) = calendar.events
    return part.get_param("method"), calendar, event


def test_the_downloaded_event_follows_the_registration(client, organization):
    seats = session("hmis-10", capacity=1)
    first, second = _people(organization, 2)
    mine = services.session_register(actor=first, session_id=seats.pk)
    waiting = services.session_register(actor=second, session_id=seats.pk)

    calendar, event = _event(client, first, mine)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(event["UID"]) == f"training-registration-{mine.pk}@hmis.coc.example.org"
    assert str(event["STATUS"]) == "CONFIRMED" and event["SEQUENCE"] == 0
    assert event["LAST-MODIFIED"].dt <= timezone.now()

    _, event = _event(client, second, waiting)
    assert str(event["STATUS"]) == "TENTATIVE" and "waitlisted" in str(event["SUMMARY"])

    services.registration_cancel(actor=first, registration_id=mine.pk)
    _, cancelled = _event(client, first, mine)
    assert str(cancelled["UID"]) == f"training-registration-{mine.pk}@hmis.coc.example.org"
    assert str(cancelled["STATUS"]) == "CANCELLED" and cancelled["SEQUENCE"] == 1

    # Moved up from the waitlist: the same event, confirmed now, a later revision.
    _, promoted = _event(client, second, waiting)
    assert str(promoted["STATUS"]) == "CONFIRMED" and promoted["SEQUENCE"] == 1
    assert "waitlisted" not in str(promoted["SUMMARY"])


def test_registering_mails_an_invitation_and_cancelling_mails_its_cancellation(organization):
    seats = session("hmis-10")
    (person,) = _people(organization, 1)
    registration = services.session_register(actor=person, session_id=seats.pk)

    parsed = _sent(person, "Registered")
    assert parsed["Auto-Submitted"] == "auto-generated"
    parts = _parts(parsed)
    assert set(parts) == {"text/plain", "text/html", "text/calendar"}
    assert "You are registered for" in parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "You are registered for" in html and 'href="https://hmis.coc.example.org/' in html
    method, calendar, event = _invitation(parsed)
    assert method == "REQUEST" and str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"training-registration-{registration.pk}@hmis.coc.example.org"
    assert str(event["ORGANIZER"]) == "mailto:training@coc.example.org"
    assert str(event["ATTENDEE"]) == f"mailto:{person.email}"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert event.start == seats.starts_at.replace(microsecond=0)

    services.registration_cancel(actor=person, registration_id=registration.pk)
    method, calendar, cancel = _invitation(_sent(person, "Cancelled"))
    assert method == "CANCEL" and str(calendar["METHOD"]) == "CANCEL"
    assert str(cancel["UID"]) == str(event["UID"]) and str(cancel["STATUS"]) == "CANCELLED"
    assert cancel["SEQUENCE"] > event["SEQUENCE"]


def test_a_waitlisted_place_is_tentative_in_its_invitation(organization):
    seats = session("hmis-10", capacity=1)
    first, second = _people(organization, 2)
    services.session_register(actor=first, session_id=seats.pk)
    services.session_register(actor=second, session_id=seats.pk)
    _, _, event = _invitation(_sent(second, "Waitlisted"))
    assert str(event["STATUS"]) == "TENTATIVE" and event["ATTENDEE"].params["PARTSTAT"] == "TENTATIVE"


def test_rescheduling_tells_everyone_with_a_later_revision_of_the_same_event(client, organization, trainer):
    seats = session("hmis-10", capacity=1)
    first, second = _people(organization, 2)
    mine = services.session_register(actor=first, session_id=seats.pk)
    services.session_register(actor=second, session_id=seats.pk)
    _, _, before = _invitation(_sent(first, "Registered"))

    later = seats.starts_at + dt.timedelta(days=2)
    services.session_reschedule(actor=trainer, session_id=seats.pk, starts_at=later,
                                ends_at=later + dt.timedelta(hours=2), webinar_url="",
                                location="Room 4, 811 Wilshire")
    moved = {}
    for person in (first, second):
        parsed = _sent(person, "Changed")
        text = _parts(parsed)["text/plain"].get_payload(decode=True).decode()
        assert "Room 4, 811 Wilshire" in text
        method, _, moved[person] = _invitation(parsed)
        assert method == "REQUEST" and moved[person].start == later.replace(microsecond=0)
        assert str(moved[person]["LOCATION"]) == "Room 4, 811 Wilshire"
    moved = moved[first]
    assert str(moved["UID"]) == str(before["UID"]) and moved["SEQUENCE"] > before["SEQUENCE"]
    _, downloaded = _event(client, first, mine)
    assert downloaded["SEQUENCE"] == moved["SEQUENCE"] and downloaded.start == later.replace(microsecond=0)
    assert [e.verb for e in events_for(seats)] == ["rescheduled session"]

    # The same time and place again changes nothing and tells nobody.
    count = Notification.objects.count()
    services.session_reschedule(actor=trainer, session_id=seats.pk, starts_at=later,
                                ends_at=later + dt.timedelta(hours=2), webinar_url="",
                                location="Room 4, 811 Wilshire")
    assert Notification.objects.count() == count


def test_a_reschedule_that_cannot_be_is_refused_with_nothing_changed(organization, trainer):
    seats = session("hmis-10")
    (person,) = _people(organization, 1)
    services.session_register(actor=person, session_id=seats.pk)
    count = Notification.objects.count()
    with pytest.raises(ValidationError, match="end after it starts"):
        services.session_reschedule(actor=trainer, session_id=seats.pk, starts_at=seats.starts_at,
                                    ends_at=seats.starts_at - dt.timedelta(hours=1),
                                    webinar_url=seats.webinar_url)
    with pytest.raises(ValidationError, match="has not passed"):
        services.session_reschedule(actor=trainer, session_id=seats.pk,
                                    starts_at=timezone.now() - dt.timedelta(hours=1),
                                    ends_at=timezone.now() + dt.timedelta(hours=1), webinar_url=seats.webinar_url)
    with pytest.raises(ValidationError, match="webinar link or a place"):
        services.session_reschedule(actor=trainer, session_id=seats.pk, starts_at=seats.starts_at,
                                    ends_at=seats.ends_at, webinar_url="", location="")
    with pytest.raises(Exception, match="Only CoC training staff"):
        services.session_reschedule(actor=person, session_id=seats.pk, starts_at=seats.starts_at,
                                    ends_at=seats.ends_at + dt.timedelta(hours=1), webinar_url=seats.webinar_url)
    services.session_cancel(actor=trainer, session_id=seats.pk, reason="No trainer")
    with pytest.raises(ValidationError, match="cancelled"):
        services.session_reschedule(actor=trainer, session_id=seats.pk, starts_at=seats.starts_at,
                                    ends_at=seats.ends_at + dt.timedelta(hours=1), webinar_url=seats.webinar_url)
    reloaded = type(seats).objects.get(pk=seats.pk)
    assert (reloaded.starts_at, reloaded.ends_at, reloaded.sequence) == (seats.starts_at, seats.ends_at, 1)
    assert Notification.objects.count() == count + 1  # only the cancellation


def test_a_cancelled_session_mails_each_person_a_cancellation(organization, trainer):
    seats = session("hmis-10", capacity=1)
    first, second = _people(organization, 2)
    for person in (first, second):
        services.session_register(actor=person, session_id=seats.pk)
    services.session_cancel(actor=trainer, session_id=seats.pk, reason="The trainer is ill")
    for person in (first, second):
        parsed = _sent(person, "Cancelled")
        assert "The trainer is ill" in _parts(parsed)["text/plain"].get_payload(decode=True).decode()
        method, _, event = _invitation(parsed)
        registration = Registration.objects.get(user=person)
        assert method == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
        assert str(event["UID"]) == f"training-registration-{registration.pk}@hmis.coc.example.org"


def test_training_staff_reschedule_from_the_session_page(client, organization, trainer):
    seats = session("hmis-10")
    (person,) = _people(organization, 1)
    services.session_register(actor=person, session_id=seats.pk)
    client.force_login(trainer)
    url = reverse("admin:training_trainingsession_reschedule", args=[seats.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert timezone.localtime(seats.starts_at).strftime("%Y-%m-%dT%H:%M") in page.content.decode()
    later = timezone.localtime(seats.starts_at + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    response = client.post(url, {"starts_at": later.strftime("%Y-%m-%dT%H:%M"),
                                 "ends_at": (later + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                                 "webinar_url": seats.webinar_url, "location": ""})
    assert response.status_code == 302
    seats.refresh_from_db()
    assert seats.starts_at == later and seats.sequence == 1
    assert Notification.objects.filter(to_email=person.email, subject__startswith="Changed").exists()
    # The change page no longer edits the time around the service.
    change = client.get(reverse("admin:training_trainingsession_change", args=[seats.pk])).content.decode()
    assert 'name="starts_at_0"' not in change and "Reschedule" in change
    client.force_login(person)
    assert client.get(url).status_code in (302, 403)


def test_a_message_reads_the_same_in_html_with_its_text_escaped(organization):
    (person,) = _people(organization, 1)
    [message] = outbox.notify(recipients=[person], subject="Returned: <b>form</b>",
                              body="First line\nsecond line <script>x</script>\n\nAnother paragraph.",
                              link="/my-access/")
    mail.outbox.clear()
    assert outbox.deliver(message.pk)
    (sent,) = mail.outbox
    html, kind = sent.alternatives[0]
    assert kind == "text/html" and not message.calendar
    assert "&lt;script&gt;" in html and "<script>" not in html and "&lt;b&gt;form&lt;/b&gt;" in html
    assert "second line" in html and "<br>" in html and "Another paragraph." in html
    assert html.count("https://hmis.coc.example.org/my-access/") == 2  # the button and the address under it
    assert sent.body.endswith("https://hmis.coc.example.org/my-access/")
