"""The user's HMIS login calendar (.ics, RFC 5545), to subscribe to in any
calendar app: seed 002 says "set a recurring calendar reminder to log into
your HMIS account once every 30 days ... on the 1st and 15th of every month",
and the portal knows the exact day the account would go Inactive.
"""

import calendar
import datetime as dt

from django.urls import reverse

from hmis_portal.core.ics import CalendarEvent, calendar_file, uid
from hmis_portal.core.site import portal_url

from hmis_access.models import AccessPolicy, HMISAccount

from .services import inactive_on

# An all-day event's alarm is relative to its start (local midnight): 9 a.m.
ALARM_AT = dt.timedelta(hours=9)


def first_reminder_day(today: dt.date, days) -> dt.date:
    """The series' first day: the first reminder day of this month (a later
    month's when this one is too short for every day). A DTSTART that is not
    one of the rule's days would be one more reminder, on a day nobody chose."""
    month = today.replace(day=1)
    for _ in range(12):
        length = calendar.monthrange(month.year, month.month)[1]
        fitting = sorted(day for day in days if day <= length)
        if fitting:
            return month.replace(day=fitting[0])
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return today


def login_calendar(account: HMISAccount, *, today: dt.date, policy: AccessPolicy | None = None) -> bytes:
    policy = policy or AccessPolicy.current()
    link = portal_url(reverse("hmis-account-status"))
    events = []
    days = policy.login_reminder_days
    if days:
        events.append(CalendarEvent(
            uid=uid(f"hmis-login-reminder-{account.pk}"),
            summary="Log in to HMIS",
            description=f"Log in to HMIS as {account.hmis_username} to keep the account Active (no login for "
                        f"{policy.inactive_after_days} days makes it Inactive). {link}",
            start=first_reminder_day(today, days),
            rrule={"freq": "monthly", "bymonthday": days},
            alarm_after_start=ALARM_AT,
            transparent=True,
        ))
    goes_inactive = inactive_on(account=account, policy=policy)
    if goes_inactive is not None:
        last_day = goes_inactive - dt.timedelta(days=1)
        events.append(CalendarEvent(
            uid=uid(f"hmis-last-login-day-{account.pk}-{last_day:%Y%m%d}"),
            summary="Last day to log in to HMIS",
            description=f"Your HMIS account {account.hmis_username} goes Inactive on {goes_inactive:%A, %B %-d, %Y} "
                        f"unless you log in to HMIS by the end of today. {link}",
            start=last_day,
            alarm_after_start=ALARM_AT,
            transparent=True,
        ))
    return calendar_file(events, product="HMIS login reminders", name="HMIS login reminders",
                         refresh_every=dt.timedelta(hours=12))
