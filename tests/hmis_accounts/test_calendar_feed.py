"""The HMIS login calendar (seed 002) and its subscription link: what the .ics
says, who may read it by token, and resetting the link."""

import datetime as dt

import icalendar
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from hmis_accounts.ics import first_reminder_day
from hmis_accounts.services import calendar_link_reset
from hmis_access.models import AccessPolicy, HMISAccount
from hmis_portal.core.calendar import local_date
from hmis_portal.core.models import AuditEvent
from tests.hmis_access.hmis import account_last_login, local

pytestmark = pytest.mark.django_db


def feed_url(token: str) -> str:
    return reverse("hmis-account-calendar-feed", kwargs={"token": token})


def active_account(**kwargs) -> HMISAccount:
    return account_last_login(local(local_date() - dt.timedelta(days=12), 10), **kwargs)


def test_the_login_calendar_reads_back_folded_with_its_two_events(settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    # The longest HMIS username there can be: the descriptions that name it
    # run far past one line.
    account = active_account(hmis_username="u" * 150)
    policy = AccessPolicy.current()
    response = Client().get(feed_url(account.calendar_token))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    body = response.content
    lines = body.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75 and any(line.startswith(b" ") for line in lines)

    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]).startswith(f"-//{settings.PORTAL_NAME}//")
    assert calendar.calendar_name == "HMIS login reminders"
    reminder, last_day = calendar.events
    today = local_date()

    assert str(reminder["UID"]) == f"hmis-login-reminder-{account.pk}@portal.example.org"
    assert str(reminder["SUMMARY"]) == "Log in to HMIS"
    assert reminder.start == today.replace(day=1) and not isinstance(reminder.start, dt.datetime)
    assert reminder.end == today.replace(day=1) + dt.timedelta(days=1)
    assert reminder["RRULE"]["FREQ"] == ["MONTHLY"]
    assert reminder["RRULE"]["BYMONTHDAY"] == policy.login_reminder_days == [1, 15]
    assert f"Log in to HMIS as {'u' * 150} to keep the account Active" in str(reminder["DESCRIPTION"])
    assert "https://portal.example.org/hmis-account/" in str(reminder["DESCRIPTION"])
    (alarm,) = reminder.walk("VALARM")
    assert alarm.TRIGGER == dt.timedelta(hours=9)

    # Last login 12 days ago: Inactive on day 30, so day 29 from it (17 days
    # from today) is the last day to log in.
    day = today + dt.timedelta(days=policy.inactive_after_days - 12 - 1)
    assert str(last_day["UID"]) == f"hmis-last-login-day-{account.pk}-{day:%Y%m%d}@portal.example.org"
    assert str(last_day["SUMMARY"]) == "Last day to log in to HMIS"
    assert last_day.start == day and not isinstance(last_day.start, dt.datetime)
    assert "RRULE" not in last_day
    goes_inactive = day + dt.timedelta(days=1)
    assert f"goes Inactive on {goes_inactive:%A, %B %-d, %Y}" in str(last_day["DESCRIPTION"])
    # No internal references in what a person reads.
    assert "seed" not in body.decode().lower()


def test_the_owner_resets_the_link_and_the_old_one_is_dead_at_once(client):
    account = active_account()
    old = account.calendar_token
    client.force_login(account.user)
    page = client.get(reverse("hmis-account-status")).content.decode()
    assert reverse("hmis-account-calendar-reset") in page and "Reset my calendar link" in page

    response = client.post(reverse("hmis-account-calendar-reset"))
    assert response.status_code == 302 and response["Location"] == reverse("hmis-account-status")
    account.refresh_from_db()
    assert account.calendar_token != old
    assert Client().get(feed_url(old)).status_code == 404
    assert Client().get(feed_url(account.calendar_token)).status_code == 200
    assert feed_url(account.calendar_token) in client.get(reverse("hmis-account-status")).content.decode()

    event = AuditEvent.objects.get(verb="calendar link reset")
    assert (event.actor, event.object_id) == (account.user, str(account.pk))
    # The audit trail never holds the secret.
    for token in (old, account.calendar_token):
        assert token not in f"{event.reason} {event.data} {event.from_state} {event.to_state}"


def test_only_the_owner_resets_their_link():
    account, someone = active_account(), active_account()
    with pytest.raises(PermissionDenied):
        calendar_link_reset(actor=someone.user, account=account)
    token = account.calendar_token
    account.refresh_from_db()
    assert account.calendar_token == token and not AuditEvent.objects.filter(verb="calendar link reset").exists()


def test_resetting_needs_a_post(client):
    account = active_account()
    client.force_login(account.user)
    assert client.get(reverse("hmis-account-calendar-reset")).status_code == 405


def test_the_feed_is_dead_while_the_account_is_inactive():
    account = active_account()
    HMISAccount.objects.filter(pk=account.pk).update(status=HMISAccount.Status.INACTIVE)
    assert Client().get(feed_url(account.calendar_token)).status_code == 404


def test_the_feed_is_dead_once_the_user_is_deactivated():
    account = active_account()
    account.user.is_active = False
    account.user.save(update_fields=["is_active"])
    assert Client().get(feed_url(account.calendar_token)).status_code == 404


@pytest.mark.parametrize("path", [
    "/hmis-account/calendar/%00.ics",
    "/hmis-account/calendar/abc%00def.ics",
    "/hmis-account/calendar/nope.ics",
    "/hmis-account/calendar/%20.ics",
    "/hmis-account/calendar/%C3%A9t%C3%A9.ics",
    "/hmis-account/calendar/'%3B--.ics",
    "/hmis-account/calendar/" + "a" * 65 + ".ics",
    "/hmis-account/calendar/" + "a" * 5000 + ".ics",
    "/hmis-account/calendar/%FF%FE.ics",
])
def test_a_malformed_token_is_a_404_never_a_500(path):
    # On PostgreSQL a NUL in a query parameter is an error, not a miss: the
    # suite runs this there too (DATABASE_URL). A NUL byte is refused before
    # any view (400); any other bad token is a plain miss (404).
    active_account()
    expected = 400 if "%00" in path else 404
    assert Client(raise_request_exception=True).get(path).status_code == expected


@pytest.mark.postgres
def test_a_nul_token_is_refused_never_a_500_on_postgresql():
    # The NUL byte is refused before any view or query runs (400), and the
    # feed of a real token still answers.
    account = active_account()
    assert Client(raise_request_exception=True).get("/hmis-account/calendar/%00.ics").status_code == 400
    assert Client().get(feed_url(account.calendar_token)).status_code == 200


@pytest.mark.parametrize("today, days, first", [
    (dt.date(2026, 12, 9), [1, 15], dt.date(2026, 12, 1)),
    (dt.date(2026, 12, 9), [20, 5], dt.date(2026, 12, 5)),
    (dt.date(2027, 2, 10), [30, 31], dt.date(2027, 3, 30)),   # February has neither day
    (dt.date(2026, 11, 3), [31], dt.date(2026, 12, 31)),
])
def test_the_reminder_series_starts_on_its_first_reminder_day(today, days, first):
    assert first_reminder_day(today, days) == first
    # The start is one of the rule's own days, so the series has no extra reminder.
    assert first.day in days


def test_the_account_page_counts_the_days_to_the_last_login_day_it_names(client):
    # Last login 1 day ago, Inactive after 30 days without one: Inactive in 29
    # days, so the last day to log in is 28 days from today, and the page says so.
    account = account_last_login(local(local_date() - dt.timedelta(days=1), 10))
    client.force_login(account.user)
    page = client.get(reverse("hmis-account-status")).content.decode()
    policy = AccessPolicy.current()
    last_day = local_date() + dt.timedelta(days=policy.inactive_after_days - 2)
    assert f"{policy.inactive_after_days - 2} days from today" in page
    assert f"{last_day:%b} {last_day.day}" in page


def test_the_subscription_link_shown_is_under_the_portals_address_whatever_host_the_request_named(client, settings):
    """The page a person copies the link from may have been reached through an
    internal name, a test port or a Host an attacker chose: the link a
    calendar app subscribes to is the portal's public one."""
    settings.PORTAL_BASE_URL = "https://portal.coc.example.org"
    settings.ALLOWED_HOSTS = ["*"]
    account = active_account()
    client.force_login(account.user)
    page = client.get(reverse("hmis-account-status"), HTTP_HOST="evil.example.net:8180").content.decode()
    assert f"https://portal.coc.example.org{feed_url(account.calendar_token)}" in page
    assert "evil.example.net" not in page
