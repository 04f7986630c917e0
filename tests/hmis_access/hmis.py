"""Builders for HMIS account activity tests (seed 002)."""

import datetime as dt

from django.core.management import call_command

from accounts.models import Membership
from hmis_access.models import HMISAccount
from hmis_portal.core.calendar import start_of_day
from tests.factories import HMISAccountFactory, MembershipFactory


def local(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware moment at local wall-clock time on `day` in the CoC's zone."""
    return start_of_day(day).replace(hour=hour, minute=minute)


def account_last_login(moment: dt.datetime, **kwargs) -> HMISAccount:
    """An Active account whose user is staff at its agency, last in HMIS at `moment`."""
    account = HMISAccountFactory(last_hmis_login_at=moment, provisioned_at=moment - dt.timedelta(days=200), **kwargs)
    if not Membership.objects.filter(user=account.user, organization=account.organization).exists():
        MembershipFactory(user=account.user, organization=account.organization, persona="staff")
    return account


def agency_admin(organization):
    return MembershipFactory(organization=organization, persona="agency_administrator").user


def sweep(at: str, job: str = "hmis-inactivity-sweep") -> None:
    call_command("run_sweeps", "--at", at, "--only", job, stdout=open("/dev/null", "w"))
