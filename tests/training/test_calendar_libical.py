"""A registration's calendars read by libical (tests/libical.py), the library
Evolution and GNOME Calendar act on: each mailed invitation passes RFC 5546's
restrictions for its METHOD, as those apps check before applying it, and the
download and the login feed pass them for PUBLISH. The UID, SEQUENCE, STATUS
and hours read the same as the portal wrote them."""

import datetime as dt
from email import message_from_bytes

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from hmis_portal.core import outbox
from hmis_portal.core.calendar import local_date
from hmis_portal.core.models import Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.hmis_access.hmis import account_last_login, local
from tests.libical import read_calendar, read_calendars
from tests.training.factories import session
from training import services

pytestmark = pytest.mark.django_db

SUMMER = dt.datetime(2027, 10, 20, 16, 30, tzinfo=dt.UTC)
WINTER = dt.datetime(2027, 11, 10, 17, 30, tzinfo=dt.UTC)
ICAL_UTC = "%Y%m%dT%H%M%SZ"


@pytest.fixture(autouse=True)
def portal(settings):
    settings.PORTAL_BASE_URL = "https://hmis.coc.example.org"
    settings.DEFAULT_FROM_EMAIL = "CoC Training <training@coc.example.org>"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def _invitation(person, subject_start):
    message = Notification.objects.get(to_email=person.email, subject__startswith=subject_start)
    mail.outbox.clear()
    assert outbox.deliver(message.pk)
    (sent,) = mail.outbox
    (part,) = [part for part in message_from_bytes(sent.message().as_bytes()).walk()
               if part.get_content_type() == "text/calendar"]
    return part.get_param("method"), part.get_payload(decode=True)


def _person(organization):
    return MembershipFactory(organization=organization, persona="staff").user


def test_every_invitation_passes_libical_s_checks_for_its_method(organization):
    seats = session("hmis-10", capacity=1)
    type(seats).objects.filter(pk=seats.pk).update(starts_at=SUMMER, ends_at=SUMMER + dt.timedelta(hours=2))
    first, second = _person(organization), _person(organization)
    mine = services.session_register(actor=first, session_id=seats.pk)
    services.session_register(actor=second, session_id=seats.pk)
    services.session_reschedule(actor=StaffFactory(groups=["CoC training"]), session_id=seats.pk,
                                starts_at=WINTER, ends_at=WINTER + dt.timedelta(hours=2), webinar_url="",
                                location="Room 4")
    services.registration_cancel(actor=first, registration_id=mine.pk)
    mailed = [_invitation(first, "Registered"), _invitation(second, "Waitlisted"), _invitation(first, "Changed"),
              _invitation(first, "Cancelled")]

    read = read_calendars(*[calendar for _, calendar in mailed])
    for (method, _), calendar in zip(mailed, read, strict=True):
        assert calendar["method"] == method
        assert calendar["errors"] == [] and calendar["valid"], (method, calendar["errors"])
    registered, waiting, changed, cancelled = [calendar["events"][0] for calendar in read]
    uid = f"training-registration-{mine.pk}@hmis.coc.example.org"
    assert [method for method, _ in mailed] == ["REQUEST", "REQUEST", "REQUEST", "CANCEL"]
    assert registered["uid"] == changed["uid"] == cancelled["uid"] == uid
    assert [registered["status"], waiting["status"], changed["status"], cancelled["status"]] == [
        "CONFIRMED", "TENTATIVE", "CONFIRMED", "CANCELLED"]
    assert registered["sequence"] < changed["sequence"] < cancelled["sequence"]
    assert registered["organizer"] == "mailto:training@coc.example.org"
    assert registered["attendees"] == [f"mailto:{first.email}"]
    # The VTIMEZONE the calendar carries places the hours, across the end of summer time.
    assert registered["start"]["utc"] == f"{SUMMER:{ICAL_UTC}}"
    assert changed["start"]["utc"] == f"{WINTER:{ICAL_UTC}}"
    assert changed["start"]["text"].endswith("T093000") and registered["start"]["text"].endswith("T093000")


def test_the_download_and_the_login_feed_pass_libical_s_checks_for_publish(client, organization):
    seats = session("hmis-10")
    person = _person(organization)
    registration = services.session_register(actor=person, session_id=seats.pk)
    client.force_login(person)
    download = client.get(reverse("training:registration-ics", args=[registration.pk])).content
    account = account_last_login(local(local_date() - dt.timedelta(days=12), 10))
    feed = Client().get(reverse("hmis-account-calendar-feed", kwargs={"token": account.calendar_token})).content

    for calendar in read_calendars(download, feed):
        assert calendar["method"] == "PUBLISH"
        assert calendar["errors"] == [] and calendar["valid"], calendar["errors"]
    (event,) = read_calendar(download)["events"]
    assert event["uid"] == f"training-registration-{registration.pk}@hmis.coc.example.org"
    assert event["organizer"] == "mailto:training@coc.example.org" and event["attendees"] == []
