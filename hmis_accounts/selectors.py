"""Reads about HMIS accounts and reactivations, narrowed to the person asking."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, When
from django.shortcuts import get_object_or_404

from accounts import access
from accounts.access import require, restrict
from hmis_portal.core.calendar import local_date
from hmis_portal.core.prepared import Ask, Param, Prepared

from hmis_access.models import AccessPolicy, HMISAccount

from .models import ReactivationRequest
from .services import inactive_on, retraining_on


# ---------------------------------------------------------------- HMIS account activity (seed 002)

AGENCY_ACCOUNT_VIEWERS = access.AGENCY_LEADS


@dataclass(frozen=True)
class AccountActivity:
    """What a person is shown about one HMIS account."""

    account: HMISAccount
    days_since_login: int | None
    inactive_on: dt.date | None
    days_to_inactive: int | None
    # The last day to log in is the day before `inactive_on`: what a page names.
    days_to_last_login_day: int | None
    retraining_on: dt.date | None
    days_to_retraining: int | None
    open_request: ReactivationRequest | None
    at_risk: bool


def account_activity(account: HMISAccount, policy: AccessPolicy, today: dt.date,
                     open_request: ReactivationRequest | None = None) -> AccountActivity:
    goes_inactive = inactive_on(account=account, policy=policy)
    needs_retraining = retraining_on(account=account, policy=policy)
    last_login = local_date(account.last_hmis_login_at) if account.last_hmis_login_at else None
    to_inactive = (goes_inactive - today).days if goes_inactive else None
    to_retraining = (needs_retraining - today).days if needs_retraining else None
    window = policy.at_risk_within_days
    # "At risk": within the policy's days of a threshold (going Inactive, or
    # needing retraining), seed 002's setbacks the agency can still prevent.
    at_risk = (to_inactive is not None and to_inactive <= window) or (
        to_retraining is not None and to_retraining <= window)
    return AccountActivity(
        account=account,
        days_since_login=(today - last_login).days if last_login else None,
        inactive_on=goes_inactive, days_to_inactive=to_inactive,
        days_to_last_login_day=None if to_inactive is None else to_inactive - 1,
        retraining_on=needs_retraining, days_to_retraining=to_retraining,
        open_request=open_request, at_risk=at_risk,
    )


def own_hmis_account(user) -> HMISAccount | None:
    return HMISAccount.objects.select_related("organization").filter(user=user).first()


_ACCOUNT_FIELDS = [field.attname for field in HMISAccount._meta.concrete_fields]
_OWN_ACCOUNT = Prepared(lambda: HMISAccount.objects.filter(user_id=Param("user")).order_by("hmis_username", "pk")
                        .values(*_ACCOUNT_FIELDS)[:1])


def own_hmis_account_alone(user) -> Ask:
    """`own_hmis_account` without its agency, for the home page (its SQL built
    once): a question whose answer is the account or None (`prepared.answer`)."""
    return _OWN_ACCOUNT.ask(user=user.pk).then(
        lambda rows: HMISAccount.from_db("default", _ACCOUNT_FIELDS, [rows[0][name] for name in _ACCOUNT_FIELDS])
        if rows else None)


def open_request_for(account: HMISAccount) -> ReactivationRequest | None:
    return account.reactivation_requests.filter(status__in=ReactivationRequest.OPEN).first()


def agency_accounts(organization, *, today: dt.date) -> list[AccountActivity]:
    """Every HMIS account at an agency, at-risk and Inactive first. Three
    queries whatever the number of accounts."""
    policy = AccessPolicy.current()
    accounts = list(HMISAccount.objects.filter(organization=organization).select_related("user"))
    open_requests = {r.account_id: r for r in ReactivationRequest.objects.filter(
        account__organization=organization, status__in=ReactivationRequest.OPEN)}
    rows = [account_activity(a, policy, today, open_requests.get(a.pk)) for a in accounts]
    return sorted(rows, key=lambda r: (
        r.account.status == HMISAccount.Status.ACTIVE and not r.at_risk,
        r.account.status == HMISAccount.Status.ACTIVE,
        r.days_to_inactive if r.days_to_inactive is not None else 10**6,
        r.account.hmis_username,
    ))


@dataclass(frozen=True)
class AgencyAccountCounts:
    organization_id: int
    at_risk: int
    inactive: int


def _agency_account_counts_query():
    active = Q(status=HMISAccount.Status.ACTIVE)
    # activity.inactive_on and retraining_on, within the policy's window
    # (the days are the call's: `agency_account_counts`).
    going_inactive = active & (
        Q(must_log_in_by__isnull=False, must_log_in_by__lte=Param("last_login_day"))
        | Q(must_log_in_by__isnull=True, inactivity_counted_from__lte=Param("inactivity_from")))
    going_retraining = Q(retraining_required=False, retraining_counted_from__lte=Param("retraining_from"))
    open_request = ReactivationRequest.objects.filter(account=OuterRef("pk"), status__in=ReactivationRequest.OPEN)
    return (HMISAccount.objects.filter(organization_id__in=Param("organizations", many=True))
            .values("organization_id")
            .annotate(at_risk=Count("pk", filter=going_inactive | going_retraining),
                      inactive=Count("pk", filter=Q(status=HMISAccount.Status.INACTIVE) & ~Exists(open_request)))
            .order_by())


# Asked by every agency lead's home page: its SQL built once (core.prepared).
_AGENCY_ACCOUNT_COUNTS = Prepared(_agency_account_counts_query)


def agency_account_counts(organizations, *, today: dt.date) -> Ask:
    """For the home page: each agency's HMIS accounts at risk and Inactive
    with no open reactivation request, as `agency_accounts` counts them, in
    one aggregate query whatever the number of accounts or agencies: a
    question whose answer is {agency id: AgencyAccountCounts} (`prepared.answer`)."""
    policy = AccessPolicy.current()
    soon = today + dt.timedelta(days=policy.at_risk_within_days)
    return _AGENCY_ACCOUNT_COUNTS.ask(
        organizations=[getattr(organization, "pk", organization) for organization in organizations],
        last_login_day=soon - dt.timedelta(days=1),
        inactivity_from=soon - dt.timedelta(days=policy.inactive_after_days),
        retraining_from=soon - dt.timedelta(days=policy.retraining_after_days)).then(
        lambda rows: {row["organization_id"]: AgencyAccountCounts(**row) for row in rows})


def access_hmis_account_for_reactivation(user, pk: int) -> HMISAccount:
    """The account if `user` may ask for its reactivation: its own user, or an
    Agency Administrator of its agency (403); another agency's is a 404."""
    account = get_object_or_404(restrict(HMISAccount.objects.select_related("user", "organization"), user), pk=pk)
    require(access.can_request_reactivation(user, account),
            "Only the account's user or the agency's Agency Administrator may request reactivation.")
    return account


def access_reactivation_request(user, pk: int) -> ReactivationRequest:
    """For provisioning staff; any agency person gets 404 (not their object
    to process) or 403 (a member of the account's agency)."""
    request = get_object_or_404(
        restrict(ReactivationRequest.objects.select_related("account", "account__user", "account__organization"),
                 user, organization_field="account__organization"), pk=pk)
    require(access.can_provision(user), "Only CoC provisioning staff process reactivations.")
    return request


def access_hmis_account_for_retraining(user, pk: int) -> HMISAccount:
    account = get_object_or_404(restrict(HMISAccount.objects.select_related("user"), user), pk=pk)
    require(access.can_record_retraining(user), "Only CoC training staff record retraining.")
    return account


@dataclass(frozen=True)
class StaffOverview:
    counts: dict
    ready: list
    waiting_for_retraining: list
    going_inactive_soon: int
    total: int


def staff_overview(user, *, today: dt.date, limit: int = 200) -> StaffOverview:
    """CoC staff: accounts counted by status, and what to act on: reactivation
    requests ready for provisioning (deadline first) and those waiting for
    retraining. A fixed number of queries."""
    policy = AccessPolicy.current()
    accounts = restrict(HMISAccount.objects.all(), user)
    counts = accounts.aggregate(
        active=Count("pk", filter=Q(status=HMISAccount.Status.ACTIVE)),
        inactive=Count("pk", filter=Q(status=HMISAccount.Status.INACTIVE, retraining_required=False)),
        retraining=Count("pk", filter=Q(retraining_required=True)),
        awaiting_login=Count("pk", filter=Q(status=HMISAccount.Status.ACTIVE, must_log_in_by__isnull=False)),
        total=Count("pk"),
    )
    soon = accounts.filter(
        status=HMISAccount.Status.ACTIVE, must_log_in_by__isnull=True,
        inactivity_counted_from__lte=today - dt.timedelta(days=policy.inactive_after_days - policy.at_risk_within_days),
    ).count()
    requests = restrict(ReactivationRequest.objects.filter(status__in=ReactivationRequest.OPEN),
                        user, organization_field="account__organization").select_related(
        "account", "account__user", "account__organization", "requested_by").order_by("provisioning_due_at", "requested_at")
    requests = list(requests[:limit])
    return StaffOverview(
        counts=counts,
        ready=[r for r in requests if r.status == ReactivationRequest.Status.READY],
        waiting_for_retraining=[r for r in requests if r.status == ReactivationRequest.Status.WAITING_FOR_RETRAINING],
        going_inactive_soon=soon,
        total=counts["total"],
    )



def hmis_directory():
    """What the portal holds of every HMIS account, for reconciling the HMIS
    with it (`manage.py hmis_sync`), read in three queries. Users the portal
    does not know are reported, never deactivated by the reconciliation alone.

    The groups the portal manages are those the CoC's policy names now and
    those it put users in before (a pack that renamed the groups): a user
    still in a group the policy no longer names for their role is taken out."""
    from hmis_portal.core.models import ProvisioningCommand
    from hmis_portal.core.provisioning import name_parts
    from hmis_portal.core.scim import PortalAccount, PortalDirectory
    from training.selectors import hmis_groups

    rows = (HMISAccount.objects.exclude(hmis_username="").order_by("pk")
            .values_list("pk", "hmis_username", "status", "hmis_role", "user__full_name", "user__email",
                         "organization__name"))
    groups = hmis_groups()  # each HMIS role's group, as the CoC's policy names it
    accounts = []
    for pk, username, status, role, name, email, agency in rows:
        given, family = name_parts(name)
        accounts.append(PortalAccount(external_id=str(pk), user_name=username,
                                      active=status == HMISAccount.Status.ACTIVE,
                                      group=groups.get(role, role) if role else "",
                                      given_name=given, family_name=family, email=email or "", agency=agency or ""))
    earlier = (ProvisioningCommand.objects.filter(kind=ProvisioningCommand.Kind.SET_GROUP)
               .values_list("payload__group", flat=True).distinct())
    managed = set(groups.values()) | {group for group in earlier if group}
    return PortalDirectory(accounts=accounts, managed_groups=sorted(managed))


@dataclass(frozen=True)
class DriftFinding:
    drift: object  # core.models.ProvisioningDrift
    account: HMISAccount | None


def drift_findings(user, *, limit: int = 500) -> tuple[list[DriftFinding], dt.datetime | None]:
    """The last reconciliation's findings `user` may read, the dangerous
    kinds first, and when that run found them: findings about accounts of
    agencies they see, and users the portal does not know for those who see
    every agency. Three queries whatever the number."""
    from hmis_portal.core.models import ProvisioningDrift

    drifts = ProvisioningDrift.objects.all()
    if not access.can_see_unknown_hmis_users(user):
        drifts = drifts.exclude(subject="")
    dangerous = [ProvisioningDrift.Kind.ACTIVE_NOT_IN_PORTAL, ProvisioningDrift.Kind.ACTIVE_INACTIVE_IN_PORTAL]
    rows = list(drifts.annotate(safe=Case(When(kind__in=dangerous, then=0), default=1, output_field=IntegerField()))
                .order_by("safe", "user_name", "pk")[:limit])
    known = [int(d.subject) for d in rows if d.subject.isdigit()]
    accounts = {a.pk: a for a in restrict(HMISAccount.objects.filter(pk__in=known), user)
                .select_related("user", "organization")}
    found = []
    for drift in rows:
        account = accounts.get(int(drift.subject)) if drift.subject.isdigit() else None
        if drift.subject and account is None:
            continue  # an account of an agency this person does not see
        found.append(DriftFinding(drift, account))
    at = max((d.found_at for d in rows), default=None)
    return found, at


def provisioning_attention(user) -> tuple[int, int]:
    """For the provisioning staff's home page: how many HMIS accounts they see
    failed to reach the HMIS (the portal's, and for those who see every agency
    the users it does not know, as the provisioning page lists them), and how
    many users the last check found able to use the HMIS without the portal's
    access (the dangerous drift). Two counts in the database."""
    from django.db.models import CharField
    from django.db.models.functions import Cast

    from hmis_portal.core.models import ProvisioningCommand, ProvisioningDrift

    failed = ProvisioningCommand.objects.filter(status=ProvisioningCommand.Status.FAILED)
    theirs = restrict(HMISAccount.objects.annotate(key=Cast("pk", output_field=CharField())), user).filter(
        key=OuterRef("subject"))
    sees_unknown = access.can_see_unknown_hmis_users(user)
    # An account with several failed commands is one account to look at.
    counted = Exists(theirs) | ~Exists(_known_subject()) if sees_unknown else Exists(theirs)
    failed = failed.filter(counted)
    failed = failed.values("subject").distinct().count()
    if not sees_unknown:
        return failed, 0  # the drift page shows them what they see of it
    dangerous = ProvisioningDrift.objects.filter(kind__in=[ProvisioningDrift.Kind.ACTIVE_NOT_IN_PORTAL,
                                                           ProvisioningDrift.Kind.ACTIVE_INACTIVE_IN_PORTAL])
    return failed, dangerous.count()


def _known_subject():
    from django.db.models import CharField
    from django.db.models.functions import Cast

    return HMISAccount.objects.annotate(key=Cast("pk", output_field=CharField())).filter(key=OuterRef("subject"))


@dataclass(frozen=True)
class UnknownUserCommand:
    """A failed command for a user the portal does not know: one only the
    HMIS has (a drift deactivation), or one whose account row was removed."""
    command: object  # core.models.ProvisioningCommand
    user_name: str

    @property
    def state(self):
        from hmis_portal.core.provisioning import SubjectState

        return SubjectState("failed", self.command.created_at, self.command.last_error, self.command.next_attempt_at)


def _unknown_user_commands():
    from hmis_portal.core.models import ProvisioningCommand

    return ProvisioningCommand.objects.filter(~Exists(_known_subject()))


def unknown_user_commands(user, *, limit: int = 200) -> tuple[list[UnknownUserCommand], int]:
    """Failed commands of users the portal does not know, oldest first, for
    those who see every agency (they belong to none), and how many more
    there are beyond `limit`. Two queries whatever their number."""
    from hmis_portal.core.models import ProvisioningCommand

    if not access.can_see_unknown_hmis_users(user):
        return [], 0
    failed = _unknown_user_commands().filter(status=ProvisioningCommand.Status.FAILED)
    rows = list(failed.order_by("pk")[:limit + 1])
    more = failed.count() - limit if len(rows) > limit else 0
    return [UnknownUserCommand(c, str(c.payload.get("user_name") or c.payload.get("remote_id") or c.subject))
            for c in rows[:limit]], more


def access_unknown_user_command(user, pk: int):
    """A command of a user the portal does not know, if `user` may retry it:
    403 for anyone who does not see every agency, 404 for a command of an
    account the portal knows (retried through its account)."""
    require(access.can_see_unknown_hmis_users(user),
            "Only CoC provisioning staff who see every agency retry commands for users the portal does not know.")
    return get_object_or_404(_unknown_user_commands(), pk=pk)
