"""Demo data for accounts: CoC staff in every group and agencies with every
persona. Idempotent: re-running finds the same rows by email and name.

Other apps build on these with `demo_user` and `demo_organization`. Every
address is at example.org; no real person's name is used.
"""

from django.contrib.auth.models import Group

from .models import CoCGroup, Membership, Organization, Persona, User

DEMO_PASSWORD = "demo-portal-2026"

# (persona shown to the newcomer, email), in the order they are printed.
LOGINS: list[tuple[str, str]] = []


def demo_organization(name: str) -> Organization:
    organization, _ = Organization.objects.get_or_create(name=name)
    return organization


def demo_user(email: str, full_name: str, *, label: str | None = None, staff_groups=(), superuser=False,
              memberships=()) -> User:
    """Create or refresh a demo login; `memberships` is [(organization, persona)]."""
    user, created = User.objects.get_or_create(email=email, defaults={"full_name": full_name})
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
    user.full_name = full_name
    user.is_staff = bool(staff_groups) or superuser
    user.is_superuser = superuser
    user.save()
    if staff_groups:
        user.groups.set(Group.objects.filter(name__in=[g.value for g in staff_groups]))
    for organization, persona in memberships:
        Membership.objects.get_or_create(user=user, organization=organization, persona=persona)
    if label and (label, email) not in LOGINS:
        LOGINS.append((label, email))
    return user


def seed(stdout) -> None:
    demo_user("admin@example.org", "Avery Admin", label="CoC system admin (superuser)", superuser=True,
              staff_groups=[CoCGroup.SYSTEM_ADMIN])
    demo_user("implementation@example.org", "Jordan Implementer", label="CoC implementation team",
              staff_groups=[CoCGroup.IMPLEMENTATION])
    demo_user("trainer@example.org", "Riley Trainer", label="CoC training staff", staff_groups=[CoCGroup.TRAINING])
    demo_user("provisioning@example.org", "Casey Provisioner", label="CoC provisioning staff",
              staff_groups=[CoCGroup.PROVISIONING])
    demo_user("matcher@example.org", "Morgan Matcher", label="CES matcher (CES team)",
              staff_groups=[CoCGroup.CES_TEAM])

    harbor = demo_organization("Harbor Light Housing")
    demo_user("director@harbor.example.org", "Dana Director", label="Executive Director (Harbor Light Housing)",
              memberships=[(harbor, Persona.EXECUTIVE_DIRECTOR)])
    demo_user("manager@harbor.example.org", "Pat Manager", label="Program Manager (Harbor Light Housing)",
              memberships=[(harbor, Persona.PROGRAM_MANAGER)])
    demo_user("agencyadmin@harbor.example.org", "Alex Agencyadmin",
              label="Agency Administrator (Harbor Light Housing)",
              memberships=[(harbor, Persona.AGENCY_ADMINISTRATOR)])
    demo_user("staff@harbor.example.org", "Sam Staff", label="End user / housing provider staff (Harbor Light Housing)",
              memberships=[(harbor, Persona.STAFF)])
    stdout.write(f"accounts: {User.objects.count()} users, {Organization.objects.count()} agencies")


# (HMIS username, full name, days since last login) — seed 002's thresholds
# on either side: 10 (fine), 29 (last day), 31 (Inactive), 89 (Inactive, last
# day before retraining), 91 (Inactive, retraining required).
DEMO_HMIS_ACCOUNTS = [
    ("harbor.rivera", "Robin Rivera", 10),
    ("harbor.nguyen", "Quinn Nguyen", 29),
    ("harbor.okafor", "Jesse Okafor", 31),
    ("harbor.lindqvist", "Taylor Lindqvist", 89),
    ("harbor.moreau", "Drew Moreau", 91),
]


def seed_hmis_activity(stdout) -> None:
    """HMIS accounts at 10, 29, 31, 89 and 91 days since their last login and
    one reactivated today, in the state the daily sweep leaves them.

    Idempotent: each run puts the same accounts back to the same number of
    days before today (the demo is about "now"), without duplicating rows.
    """
    import datetime as dt

    from django.utils import timezone

    from hmis_portal.core.calendar import local_date, start_of_day

    from .models import AccessPolicy, HMISAccount, ReactivationRequest

    policy = AccessPolicy.current()
    harbor = demo_organization("Harbor Light Housing")
    today = local_date()
    admin = demo_user("agencyadmin@harbor.example.org", "Alex Agencyadmin",
                      memberships=[(harbor, Persona.AGENCY_ADMINISTRATOR)])

    def put(username, full_name, days, label=None):
        email = f"{username.replace('harbor.', '')}@harbor.example.org"
        user = demo_user(email, full_name, label=label, memberships=[(harbor, Persona.STAFF)])
        last_day = today - dt.timedelta(days=days)
        last_login = start_of_day(last_day) + dt.timedelta(hours=10)
        inactive = days >= policy.inactive_after_days
        retraining = days >= policy.retraining_after_days
        values = {
            "user": user, "organization": harbor, "hmis_role": "CES_Standard",
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
        account, _ = HMISAccount.objects.update_or_create(hmis_username=username, defaults=values)
        account.retraining_courses.set(policy.retraining_courses.all() if retraining else [])
        return account

    for username, full_name, days in DEMO_HMIS_ACCOUNTS:
        put(username, full_name, days, label=f"HMIS user, {days} days since last login" if days in (29, 31) else None)
    # Sam Staff, the demo end user, was reactivated this morning and has not
    # logged in yet: the sweep at midnight makes the account Inactive again.
    sam = demo_user("staff@harbor.example.org", "Sam Staff", memberships=[(harbor, Persona.STAFF)])
    reactivated_at = min(start_of_day(today) + dt.timedelta(hours=9), timezone.now())
    last_day = today - dt.timedelta(days=40)
    account, _ = HMISAccount.objects.update_or_create(hmis_username="harbor.sam", defaults={
        "user": sam, "organization": harbor, "hmis_role": "CES_Housing_Provider",
        "provisioned_at": start_of_day(today - dt.timedelta(days=200)),
        "last_hmis_login_at": start_of_day(last_day) + dt.timedelta(hours=11),
        "inactivity_counted_from": today, "retraining_counted_from": last_day,
        "status": HMISAccount.Status.ACTIVE, "inactive_since": None, "inactive_reason": "",
        "retraining_required": False, "retraining_required_on": None,
        "reactivated_at": reactivated_at, "must_log_in_by": today + dt.timedelta(days=policy.reactivation_login_days),
    })
    if not account.reactivation_requests.exists():
        ReactivationRequest.objects.create(
            account=account, user=sam, organization=harbor, requested_by=admin,
            requested_at=reactivated_at - dt.timedelta(hours=20),
            status=ReactivationRequest.Status.REACTIVATED, ready_at=reactivated_at - dt.timedelta(hours=20),
            provisioning_due_on=today,
            provisioned_by=User.objects.filter(email="provisioning@example.org").first(),
            provisioned_at=reactivated_at)
    # The 31-day account's agency administrator has asked for reactivation:
    # it waits in provisioning's queue.
    okafor = HMISAccount.objects.get(hmis_username="harbor.okafor")
    if not okafor.reactivation_requests.exists():
        from .activity import provisioning_deadline

        asked = start_of_day(today) + dt.timedelta(hours=8)
        ReactivationRequest.objects.create(account=okafor, user=okafor.user, organization=harbor,
                                           requested_by=admin, requested_at=asked,
                                           status=ReactivationRequest.Status.READY, ready_at=asked,
                                           provisioning_due_on=provisioning_deadline(asked))
    stdout.write(f"accounts: {HMISAccount.objects.count()} HMIS accounts "
                 "(10, 29, 31, 89, 91 days since last login; one reactivated today)")
