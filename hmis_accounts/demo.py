"""Demo data for HMIS accounts: accounts at every point of the inactivity
rules (seed 002), with reactivations. Idempotent."""

import datetime as dt

from django.utils import timezone

from accounts.demo import demo_organization, demo_user
from accounts.models import Persona, User
from hmis_access.models import AccessPolicy, HMISAccount
from hmis_access.selectors import hmis_username_for
from hmis_portal.core.calendar import end_of_day, local_date, start_of_day

from .models import ReactivationRequest
from .services import provisioning_deadline

# (email, full name, days since last login) — seed 002's thresholds on
# either side: 10 (fine), 29 (last day), 31 (Inactive), 89 (Inactive, last
# day before retraining), 91 (Inactive, retraining required). The HMIS
# usernames follow the pack's rule, as a grant's do.
DEMO_HMIS_ACCOUNTS = [
    ("rivera@harbor.example.org", "Robin Rivera", 10),
    ("nguyen@harbor.example.org", "Quinn Nguyen", 29),
    ("okafor@harbor.example.org", "Jesse Okafor", 31),
    ("lindqvist@harbor.example.org", "Taylor Lindqvist", 89),
    ("moreau@harbor.example.org", "Drew Moreau", 91),
]


def seed_hmis_activity(stdout) -> None:
    """HMIS accounts at 10, 29, 31, 89 and 91 days since their last login and
    one reactivated today, in the state the daily sweep leaves them.

    Idempotent: each run puts the same accounts back to the same number of
    days before today (the demo is about "now"), without duplicating rows.
    """
    policy = AccessPolicy.current()
    harbor = demo_organization("Harbor Light Housing")
    today = local_date()
    admin = demo_user("agencyadmin@harbor.example.org", "Alex Agencyadmin",
                      memberships=[(harbor, Persona.AGENCY_ADMINISTRATOR)])

    def put(email, full_name, days, label=None):
        user = demo_user(email, full_name, label=label, memberships=[(harbor, Persona.STAFF)])
        last_day = today - dt.timedelta(days=days)
        last_login = start_of_day(last_day) + dt.timedelta(hours=10)
        inactive = days >= policy.inactive_after_days
        retraining = days >= policy.retraining_after_days
        values = {
            "hmis_username": hmis_username_for(user), "organization": harbor, "hmis_role": "CES_Standard",
            "provisioned_at": last_login - dt.timedelta(days=120),
            "last_hmis_login_at": last_login,
            "inactivity_counted_from": last_day, "retraining_counted_from": last_day,
            "status": HMISAccount.Status.INACTIVE if inactive else HMISAccount.Status.ACTIVE,
            "inactive_since": (start_of_day(last_day + dt.timedelta(days=policy.inactive_after_days))
                               + dt.timedelta(minutes=5)) if inactive else None,
            "inactive_reason": HMISAccount.InactiveReason.NO_LOGIN if inactive else "",
            "retraining_required": retraining,
            "retraining_required_on": last_day + dt.timedelta(days=policy.retraining_after_days) if retraining else None,
            "must_log_in_by": None, "reactivated_at": None,
        }
        account, _ = HMISAccount.objects.update_or_create(user=user, defaults=values)
        account.retraining_courses.set(policy.retraining_courses.all() if retraining else [])
        return account

    for email, full_name, days in DEMO_HMIS_ACCOUNTS:
        put(email, full_name, days, label=f"HMIS user, {days} days since last login" if days in (29, 31) else None)
    # Sam Staff, the demo end user, was reactivated this morning and has not
    # logged in yet: the first sweep after the policy's window makes the
    # account Inactive again.
    sam = demo_user("staff@harbor.example.org", "Sam Staff", memberships=[(harbor, Persona.STAFF)])
    reactivated_at = min(start_of_day(today) + dt.timedelta(hours=9), timezone.now())
    last_day = today - dt.timedelta(days=40)
    account, _ = HMISAccount.objects.update_or_create(user=sam, defaults={
        "hmis_username": hmis_username_for(sam), "organization": harbor, "hmis_role": "CES_Housing_Provider",
        "provisioned_at": start_of_day(today - dt.timedelta(days=200)),
        "last_hmis_login_at": start_of_day(last_day) + dt.timedelta(hours=11),
        "inactivity_counted_from": today, "retraining_counted_from": last_day,
        "status": HMISAccount.Status.ACTIVE, "inactive_since": None, "inactive_reason": "",
        "retraining_required": False, "retraining_required_on": None,
        "reactivated_at": reactivated_at,
        "must_log_in_before": reactivated_at + dt.timedelta(hours=policy.reactivation_login_hours),
        "must_log_in_by": local_date(reactivated_at + dt.timedelta(hours=policy.reactivation_login_hours)),
    })
    if not account.reactivation_requests.exists():
        ReactivationRequest.objects.create(
            account=account, user=sam, organization=harbor, requested_by=admin,
            requested_at=reactivated_at - dt.timedelta(hours=20),
            status=ReactivationRequest.Status.REACTIVATED, ready_at=reactivated_at - dt.timedelta(hours=20),
            provisioning_due_at=end_of_day(today),
            provisioned_by=User.objects.filter(email="provisioning@example.org").first(),
            provisioned_at=reactivated_at)
    # The 31-day account's agency administrator has asked for reactivation:
    # it waits in provisioning's queue.
    okafor = HMISAccount.objects.get(user__email=DEMO_HMIS_ACCOUNTS[2][0])
    if not okafor.reactivation_requests.exists():
        asked = start_of_day(today) + dt.timedelta(hours=8)
        ReactivationRequest.objects.create(account=okafor, user=okafor.user, organization=harbor,
                                           requested_by=admin, requested_at=asked,
                                           status=ReactivationRequest.Status.READY, ready_at=asked,
                                           provisioning_due_at=provisioning_deadline(asked))
    stdout.write(f"accounts: {HMISAccount.objects.count()} HMIS accounts "
                 "(10, 29, 31, 89, 91 days since last login; one reactivated today)")
