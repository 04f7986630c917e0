"""The user's HMIS login calendar (.ics, RFC 5545), to subscribe to in any
calendar app: seed 002 says "set a recurring calendar reminder to log into
your HMIS account once every 30 days ... on the 1st and 15th of every month",
and the portal knows the exact day the account would go Inactive.
"""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from .activity import inactive_on
from .models import AccessPolicy, HMISAccount


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _event(uid: str, day: dt.date, summary: str, description: str, stamp: str, rrule: str = "",
           alarm: bool = False) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
        f"SUMMARY:{_escape(summary)}",
        f"DESCRIPTION:{_escape(description)}",
        "TRANSP:TRANSPARENT",
    ]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    if alarm:
        # 9 a.m. on the day: an all-day event's alarm is relative to its start.
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"DESCRIPTION:{_escape(summary)}", "TRIGGER:PT9H", "END:VALARM"]
    lines.append("END:VEVENT")
    return lines


def login_calendar(account: HMISAccount, *, today: dt.date, policy: AccessPolicy | None = None) -> str:
    policy = policy or AccessPolicy.current()
    stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    host = settings.PORTAL_BASE_URL.split("//")[-1].split("/")[0] or "hmis-portal"
    link = f"{settings.PORTAL_BASE_URL.rstrip('/')}/hmis-account/"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//{_escape(settings.PORTAL_NAME)}//HMIS login reminders//EN",
        "CALSCALE:GREGORIAN", "METHOD:PUBLISH", f"X-WR-CALNAME:{_escape('HMIS login reminders')}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT12H", "X-PUBLISHED-TTL:PT12H",
    ]
    days = policy.login_reminder_days
    if days:
        lines += _event(
            f"hmis-login-reminder-{account.pk}@{host}", today.replace(day=1),
            "Log in to HMIS",
            f"Log in to HMIS as {account.hmis_username} to keep the account Active (seed 002: no login for "
            f"{policy.inactive_after_days} days makes it Inactive). {link}",
            stamp, rrule=f"FREQ=MONTHLY;BYMONTHDAY={','.join(str(d) for d in days)}", alarm=True,
        )
    goes_inactive = inactive_on(account, policy)
    if goes_inactive is not None:
        last_day = goes_inactive - dt.timedelta(days=1)
        lines += _event(
            f"hmis-last-login-day-{account.pk}-{last_day:%Y%m%d}@{host}", last_day,
            "Last day to log in to HMIS",
            f"Your HMIS account {account.hmis_username} goes Inactive on {goes_inactive:%A, %B %-d, %Y} unless you "
            f"log in to HMIS by the end of today. {link}",
            stamp, alarm=True,
        )
    return "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"
