"""A registration's calendar, downloaded and mailed, read by Mozilla's ical.js
(tests/ical_js.py) instead of the library that wrote it: the UID, SEQUENCE,
STATUS and METHOD a calendar app goes by, the hours in the CoC's own time zone
on both sides of a daylight-saving change, and the ORGANIZER and ATTENDEE
calendar apps need before they apply an invitation."""

import datetime as dt
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse

from hmis_portal.core import outbox
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.ical_js import read_calendar
from tests.training.factories import session
from training import services

pytestmark = pytest.mark.django_db

UTC = "%Y-%m-%dT%H:%M:%SZ"
# Summer time in Los Angeles, and a reschedule into winter time (UTC-7, then -8).
SUMMER = dt.datetime(2027, 10, 20, 16, 30, tzinfo=dt.UTC)
WINTER = dt.datetime(2027, 11, 10, 17, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def portal(settings):
    settings.PORTAL_BASE_URL = "https://hmis.coc.example.org"
    settings.DEFAULT_FROM_EMAIL = "training@coc.example.org"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _summer_session(capacity=5):
    seats = session("hmis-10", capacity=capacity)
    type(seats).objects.filter(pk=seats.pk).update(starts_at=SUMMER, ends_at=SUMMER + dt.timedelta(hours=2))
    seats.refresh_from_db()
    return seats


def _person(organization, name):
    user = MembershipFactory(organization=organization, persona="staff").user
    user.full_name = name
    user.save(update_fields=["full_name"])
    return user


def _sent(person, subject_start):
    message = Notification.objects.get(to_email=person.email, subject__startswith=subject_start)
    mail.outbox.clear()
    assert outbox.deliver(message.pk)
    (sent,) = mail.outbox
    parsed = message_from_bytes(sent.message().as_bytes())
    (part,) = [part for part in parsed.walk() if part.get_content_type() == "text/calendar"]
    return part.get_param("method"), read_calendar(part.get_payload(decode=True))


def _when(event):
    assert event["start"]["zone"] == event["end"]["zone"] == django_settings.TIME_ZONE
    return event["start"]["utc"], event["end"]["utc"]


def test_the_downloaded_event_reads_the_same_in_ical_js(client, organization):
    seats = _summer_session()
    person = _person(organization, "Zoë O'Brien, Jr.")
    registration = services.session_register(actor=person, session_id=seats.pk)
    client.force_login(person)
    response = client.get(reverse("training:registration-ics", args=[registration.pk]))
    calendar = read_calendar(response.content)
    assert calendar["method"] == "PUBLISH" and calendar["version"] == "2.0"
    assert calendar["zones"] == [django_settings.TIME_ZONE]
    (event,) = calendar["events"]
    assert event["uid"] == f"training-registration-{registration.pk}@hmis.coc.example.org"
    assert event["sequence"] == 0 and event["status"] == "CONFIRMED"
    assert _when(event) == (f"{SUMMER:{UTC}}", f"{SUMMER + dt.timedelta(hours=2):{UTC}}")
    # Local wall-clock time, as staff scheduled it: 9:30 a.m. in Los Angeles.
    local = SUMMER.astimezone(ZoneInfo(django_settings.TIME_ZONE))
    assert event["start"]["text"] == f"{local:%Y-%m-%dT%H:%M:%S}" and local.hour == 9
    assert event["organizer"] == {"value": "mailto:training@coc.example.org",
                                  "parameters": {"cn": django_settings.PORTAL_NAME}}
    # A published event invites no one (RFC 5546 allows no ATTENDEE in PUBLISH); the mailed invitation does.
    assert event["attendees"] == []
    services.session_reschedule(actor=StaffFactory(groups=["CoC training"]), session_id=seats.pk,
                                starts_at=SUMMER, ends_at=SUMMER + dt.timedelta(hours=3), webinar_url="",
                                location="Room 4")
    _, invitation = _sent(person, "Changed")
    (attendee,) = invitation["events"][0]["attendees"]
    assert attendee["value"] == f"mailto:{person.email}"
    assert attendee["parameters"]["cn"] == "Zoë O'Brien, Jr." and attendee["parameters"]["partstat"] == "ACCEPTED"


def test_each_mailed_invitation_reads_as_calendar_apps_apply_it(organization):
    seats = _summer_session(capacity=1)
    first, second = _person(organization, "Ana Ruiz"), _person(organization, "Bo Chen")
    mine = services.session_register(actor=first, session_id=seats.pk)
    services.session_register(actor=second, session_id=seats.pk)

    method, calendar = _sent(first, "Registered")
    assert method == calendar["method"] == "REQUEST"
    (registered,) = calendar["events"]
    uid = f"training-registration-{mine.pk}@hmis.coc.example.org"
    assert registered["uid"] == uid and registered["status"] == "CONFIRMED"
    assert _when(registered) == (f"{SUMMER:{UTC}}", f"{SUMMER + dt.timedelta(hours=2):{UTC}}")
    assert registered["organizer"]["value"] == "mailto:training@coc.example.org"
    assert [a["value"] for a in registered["attendees"]] == [f"mailto:{first.email}"]

    method, calendar = _sent(second, "Waitlisted")
    (waiting,) = calendar["events"]
    assert method == calendar["method"] == "REQUEST"
    assert waiting["status"] == "TENTATIVE" and waiting["attendees"][0]["parameters"]["partstat"] == "TENTATIVE"

    # Moved across the end of summer time: the same wall-clock hour reads an hour later in UTC.
    services.session_reschedule(actor=StaffFactory(groups=["CoC training"]), session_id=seats.pk,
                                starts_at=WINTER, ends_at=WINTER + dt.timedelta(hours=2), webinar_url="",
                                location="Room 4, 811 Wilshire")
    method, calendar = _sent(first, "Changed")
    (moved,) = calendar["events"]
    assert method == calendar["method"] == "REQUEST"
    assert moved["uid"] == uid and moved["sequence"] > registered["sequence"]
    assert _when(moved) == (f"{WINTER:{UTC}}", f"{WINTER + dt.timedelta(hours=2):{UTC}}")
    assert moved["start"]["text"].endswith("T09:30:00") and moved["location"] == "Room 4, 811 Wilshire"

    services.registration_cancel(actor=first, registration_id=mine.pk)
    method, calendar = _sent(first, "Cancelled")
    (cancelled,) = calendar["events"]
    assert method == calendar["method"] == "CANCEL"
    assert cancelled["uid"] == uid and cancelled["status"] == "CANCELLED"
    assert cancelled["sequence"] > moved["sequence"]
    assert cancelled["attendees"][0]["value"] == f"mailto:{first.email}"
    assert cancelled["organizer"]["value"] == "mailto:training@coc.example.org"


def test_the_organizer_is_the_sender_s_address_when_the_sender_has_a_display_name(organization, settings):
    """DEFAULT_FROM_EMAIL may carry a name ("CoC Training <training@…>", as
    Django allows): the ORGANIZER must still be a mailto: of the address alone,
    or calendar apps cannot tell who sent the invitation and refuse to apply it."""
    settings.DEFAULT_FROM_EMAIL = "CoC Training <training@coc.example.org>"
    seats = _summer_session()
    person = _person(organization, "Ana Ruiz")
    services.session_register(actor=person, session_id=seats.pk)
    _, calendar = _sent(person, "Registered")
    (event,) = calendar["events"]
    assert event["organizer"] == {"value": "mailto:training@coc.example.org", "parameters": {"cn": "CoC Training"}}
