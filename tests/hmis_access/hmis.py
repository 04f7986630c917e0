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


def many_accounts(logins: dict[str, dt.datetime]) -> None:
    """Active accounts at one new agency, inserted in bulk: one per HMIS
    username (also its user's name), last in HMIS at its moment, with the
    clocks counted from then."""
    from accounts.models import User
    from tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    User.objects.bulk_create([User(email=f"{name}@example.org", full_name=name) for name in logins])
    users = User.objects.in_bulk([f"{name}@example.org" for name in logins], field_name="email")
    HMISAccount.objects.bulk_create([
        HMISAccount(user=users[f"{name}@example.org"], organization=organization, hmis_username=name,
                    hmis_role="CES_Standard", last_hmis_login_at=at, provisioned_at=at,
                    inactivity_counted_from=at.date(), retraining_counted_from=at.date(), calendar_token=name)
        for name, at in logins.items()
    ])


def agency_admin(organization):
    return MembershipFactory(organization=organization, persona="agency_administrator").user


def sweep(at: str, job: str = "hmis-inactivity-sweep") -> None:
    call_command("run_sweeps", "--at", at, "--only", job, stdout=open("/dev/null", "w"))
