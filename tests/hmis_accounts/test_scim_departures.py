"""A person leaving their agency, an agency's agreement lapsing and a new role
reach the HMIS: made through the portal's own services and jobs, delivered to
a real SCIM 2.0 server (scim2-server, a separate process) and read back from
its /Users and /Groups."""

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as people
from accounts.models import Membership
from hmis_access.checklist import build_checklist
from hmis_access.models import HMISAccount
from hmis_access.services import access_request_grant
from hmis_portal.core import provisioning
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import ProvisioningCommand
from onboarding.models import OrganizationAgreement
from onboarding.tasks import agreement_expiry_and_renewal
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.training.factories import finish_everything, identify, participating

# The servers are kept for the tests of one process (tests/hmis_accounts/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scim")]
Kind = ProvisioningCommand.Kind


@pytest.fixture
def target(scim_server, scim_settings):
    scim_settings(scim_server.url)
    for role in ("CES_Standard", "CES_Housing_Provider", "CES_Matcher"):
        scim_server.create_group(role)
    return scim_server


def _granted(organization, username, *, role_codes=("housing-navigator",), email=None, participate=True):
    if participate:
        participating(organization, "access-center")
    request = finish_everything(
        identify(organization, role_codes=role_codes, programs=list(organization.programs.all()), email=email,
                 new_user=email is None),
        StaffFactory(groups=["CoC training"]))
    access_request_grant(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk,
                         hmis_username=username, hmis_role=build_checklist(request).hmis_role)
    return HMISAccount.objects.get(user=request.user)


def _deactivations(account):
    return ProvisioningCommand.objects.filter(subject=str(account.pk), kind=Kind.DEACTIVATE)


def _implementer():
    return StaffFactory(groups=["CoC implementation"])


# --- a person leaves their agency -------------------------------------------------------------------

def test_leaving_the_agency_makes_the_account_inactive_and_deactivates_the_user_in_the_hmis(organization, target):
    account = _granted(organization, "dreyes")
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is True
    membership = Membership.objects.get(user=account.user, organization=organization)

    actor = _implementer()
    people.membership_remove(actor=actor, membership=membership)

    account.refresh_from_db()
    assert account.status == HMISAccount.Status.INACTIVE
    assert account.inactive_reason == HMISAccount.InactiveReason.MEMBERSHIP_ENDED
    latest = events_for(account).first()
    assert (latest.verb, latest.to_state, latest.actor) == ("made inactive", "Inactive", actor)
    assert str(organization) in latest.reason
    # Queued with the decision; nothing was sent to the HMIS by the request itself.
    assert _deactivations(account).count() == 1
    assert target.user("dreyes")["active"] is True
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is False
    # The nightly reconciliation agrees with the portal: nothing to put back.
    from hmis_accounts.selectors import hmis_directory
    from hmis_portal.core import scim

    directory = hmis_directory()
    assert scim.sync(directory.accounts, managed_groups=directory.managed_groups, dry_run=True).drifts == []


def test_a_person_who_keeps_another_persona_at_the_agency_keeps_the_account(organization, target):
    account = _granted(organization, "dreyes")
    MembershipFactory(user=account.user, organization=organization, persona="agency_administrator")
    staff = Membership.objects.get(user=account.user, organization=organization, persona="staff")

    people.membership_remove(actor=_implementer(), membership=staff)

    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE
    assert not _deactivations(account).exists()


def test_a_membership_removal_that_rolls_back_queues_nothing(organization, target):
    account = _granted(organization, "dreyes")
    membership = Membership.objects.get(user=account.user, organization=organization)
    with transaction.atomic():
        people.membership_remove(actor=_implementer(), membership=membership)
        assert _deactivations(account).count() == 1  # in the removal's own transaction
        transaction.set_rollback(True)
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE
    assert not _deactivations(account).exists()


# --- an agency's agreement lapses -------------------------------------------------------------------

def _expired_agreement(organization):
    OrganizationAgreement.objects.filter(organization=organization).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1))


def test_an_expired_agreement_deactivates_the_agency_s_users_with_one_statement(target):
    lapsing, other, renewed = OrganizationFactory(), OrganizationFactory(), OrganizationFactory()
    first = _granted(lapsing, "first.user")
    second = _granted(lapsing, "second.user", participate=False)
    elsewhere = _granted(other, "other.user")
    kept = _granted(renewed, "renewed.user")
    provisioning.deliver_pending()
    assert {u["userName"]: u["active"] for u in target.users()} == {
        "first.user": True, "second.user": True, "other.user": True, "renewed.user": True}
    _expired_agreement(lapsing)
    _expired_agreement(renewed)
    # The renewed agency has a newer agreement in force.
    OrganizationAgreement.objects.create(organization=renewed, status=OrganizationAgreement.Status.EXECUTED,
                                         expires_on=timezone.localdate() + dt.timedelta(days=300))

    with CaptureQueriesContext(connection) as queries:
        summary = agreement_expiry_and_renewal()
    assert summary.startswith("2 agreements expired"), summary
    inserts = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith(f'INSERT INTO {ProvisioningCommand._meta.db_table}')
               or q["sql"].startswith(f'INSERT INTO "{ProvisioningCommand._meta.db_table}"')]
    assert len(inserts) == 1, inserts  # set-based: one INSERT … SELECT for every lapsed agency's accounts

    statuses = dict(HMISAccount.objects.values_list("hmis_username", "status"))
    assert statuses == {"first.user": "inactive", "second.user": "inactive", "other.user": "active",
                        "renewed.user": "active"}
    assert HMISAccount.objects.get(pk=first.pk).inactive_reason == HMISAccount.InactiveReason.AGREEMENT_EXPIRED
    assert target.user("first.user")["active"] is True  # the job called nobody
    provisioning.deliver_pending()
    assert {u["userName"]: u["active"] for u in target.users()} == {
        "first.user": False, "second.user": False, "other.user": True, "renewed.user": True}
    assert elsewhere.pk and kept.pk and second.pk

    # Run again: nothing more is expired or queued.
    before = ProvisioningCommand.objects.count()
    assert agreement_expiry_and_renewal().startswith("0 agreements expired")
    assert ProvisioningCommand.objects.count() == before


def _terminate(organization, actor, reason="The agency left the CoC."):
    from onboarding.services import agreement_terminate

    return agreement_terminate(actor=actor, agreement=OrganizationAgreement.objects.get(
        organization=organization, status=OrganizationAgreement.Status.EXECUTED), reason=reason)


def test_a_terminated_agreement_deactivates_the_agency_s_users_with_one_statement(target):
    leaving, other = OrganizationFactory(), OrganizationFactory()
    first = _granted(leaving, "first.user")
    second = _granted(leaving, "second.user", participate=False)
    _granted(other, "other.user")
    provisioning.deliver_pending()
    actor = _implementer()

    with CaptureQueriesContext(connection) as queries:
        _terminate(leaving, actor, reason="The agency left the CoC.")
    inserts = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith(f'INSERT INTO {ProvisioningCommand._meta.db_table}')
               or q["sql"].startswith(f'INSERT INTO "{ProvisioningCommand._meta.db_table}"')]
    assert len(inserts) == 1, inserts  # set-based: one INSERT … SELECT for the agency's accounts

    statuses = dict(HMISAccount.objects.values_list("hmis_username", "status"))
    assert statuses == {"first.user": "inactive", "second.user": "inactive", "other.user": "active"}
    assert HMISAccount.objects.get(pk=first.pk).inactive_reason == HMISAccount.InactiveReason.AGREEMENT_EXPIRED
    latest = events_for(second).first()
    assert (latest.verb, latest.to_state, latest.actor) == ("made inactive", "Inactive", actor)
    assert "terminated" in latest.reason and "The agency left the CoC." in latest.reason
    assert _deactivations(first).count() == 1 and _deactivations(second).count() == 1
    assert target.user("first.user")["active"] is True  # the decision called nobody
    provisioning.deliver_pending()
    assert {u["userName"]: u["active"] for u in target.users()} == {
        "first.user": False, "second.user": False, "other.user": True}


def test_an_agency_with_a_renewal_in_force_keeps_its_accounts_when_the_old_agreement_is_terminated(target):
    agency = OrganizationFactory()
    account = _granted(agency, "kept.user")
    old = OrganizationAgreement.objects.get(organization=agency, status=OrganizationAgreement.Status.EXECUTED)
    OrganizationAgreement.objects.create(organization=agency, status=OrganizationAgreement.Status.EXECUTED,
                                         renewal_of=old)
    from onboarding.services import agreement_terminate

    agreement_terminate(actor=_implementer(), agreement=old, reason="Replaced by the renewal.")
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE
    assert not _deactivations(account).exists()


def test_a_termination_that_rolls_back_queues_nothing(organization, target):
    account = _granted(organization, "dreyes")
    with transaction.atomic():
        _terminate(organization, _implementer())
        assert _deactivations(account).count() == 1  # in the termination's own transaction
        transaction.set_rollback(True)
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.ACTIVE
    assert not _deactivations(account).exists()
    assert OrganizationAgreement.objects.get(organization=organization).status == "executed"


# --- a new role -------------------------------------------------------------------------------------

def test_a_new_role_on_an_existing_account_moves_the_user_between_groups(organization, target):
    account = _granted(organization, "dreyes")
    provisioning.deliver_pending()
    remote = target.user("dreyes")["id"]
    assert target.groups()["CES_Standard"] == {remote}
    # The account lapses; the agency asks for the person again, now as a Community Matcher.
    HMISAccount.objects.filter(pk=account.pk).update(status=HMISAccount.Status.INACTIVE)
    provisioning.provision_active(account_id=account.pk, active=False)
    provisioning.deliver_pending()

    again = _granted(organization, "dreyes", role_codes=("community-matcher",), email=account.user.email,
                     participate=False)

    assert again.pk == account.pk and again.hmis_role == "CES_Matcher"
    provisioning.deliver_pending()
    groups = target.groups()
    assert groups["CES_Matcher"] == {remote} and groups["CES_Standard"] == set()
    assert target.user("dreyes")["active"] is True
    assert len(target.users()) == 1


# --- the role → group mapping comes from the policy pack --------------------------------------------

def _pack(tmp_path, change):
    from hmis_portal.policy_pack import PACK_DIR

    pack = json.loads((PACK_DIR / "la.json").read_text())
    change(pack)
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=1))
    return path


def _load(path):
    call_command("load_policy", str(path), stdout=io.StringIO(), stderr=io.StringIO())


def _vendor_names(pack):
    for role in pack["ces_roles"]:
        role["hmis_group"] = f"Vendor {role['hmis_role'].replace('_', ' ')}"


def test_the_group_a_grant_joins_is_the_one_the_pack_names(organization, target, tmp_path):
    _load(_pack(tmp_path, _vendor_names))
    target.create_group("Vendor CES Standard")
    target.create_group("Vendor CES Matcher")

    _granted(organization, "dreyes")
    provisioning.deliver_pending()

    remote = target.user("dreyes")["id"]
    groups = target.groups()
    assert groups["Vendor CES Standard"] == {remote}
    assert groups["CES_Standard"] == set()  # the role's own name is no longer its group
    out = io.StringIO()
    call_command("hmis_sync", "--dry-run", stdout=out)
    assert "DRIFT" not in out.getvalue()

    # The CoC goes back to groups named as the roles: the reconciliation
    # finds the user in the old group and moves them.
    _load("la")
    out = io.StringIO()
    call_command("hmis_sync", "--dry-run", stdout=out)
    assert "DRIFT dreyes role-group-differs" in out.getvalue()
    call_command("hmis_sync", stdout=io.StringIO())
    provisioning.deliver_pending()
    groups = target.groups()
    assert groups["CES_Standard"] == {remote} and groups["Vendor CES Standard"] == set()


def test_a_pack_with_a_bad_mapping_is_refused_whole(organization, target, tmp_path):
    from hmis_access.models import AccessPolicy
    from training.models import CESRole

    def bad(pack):
        _vendor_names(pack)
        roles = {role["code"]: role for role in pack["ces_roles"]}
        # Two CES roles give the same HMIS role but name different groups for it.
        roles["outreach"]["hmis_role"] = "CES_Standard"
        roles["outreach"]["hmis_group"] = "Vendor Street Outreach"
        roles["community-matcher"]["hmis_group"] = "   "
        pack["access_policy"]["hmis_username_rule"] = "{nickname}.{last}"
        pack["access_policy"]["inactive_after_days"] = 31  # valid on its own

    before = (list(CESRole.objects.order_by("pk").values_list("code", "hmis_role", "hmis_group")),
              AccessPolicy.current().inactive_after_days, AccessPolicy.current().hmis_username_rule)
    errors = io.StringIO()
    with pytest.raises(CommandError, match="3 problems"):
        call_command("load_policy", str(_pack(tmp_path, bad)), stdout=io.StringIO(), stderr=errors)
    message = errors.getvalue()
    assert "ces_roles[3].hmis_group" in message and "CES_Standard" in message and "Vendor Street Outreach" in message
    assert "ces_roles[5].hmis_group: must be a non-empty text" in message
    assert "access_policy.hmis_username_rule" in message and "{nickname}" in message
    after = (list(CESRole.objects.order_by("pk").values_list("code", "hmis_role", "hmis_group")),
             AccessPolicy.current().inactive_after_days, AccessPolicy.current().hmis_username_rule)
    assert after == before

    # Nothing of it reached the grant: the user joins the group named as the role.
    _granted(organization, "dreyes")
    provisioning.deliver_pending()
    assert target.groups()["CES_Standard"] == {target.user("dreyes")["id"]}


# --- the way back after leaving is a new access request, not a reactivation -------------------------

def test_an_account_closed_by_a_departure_is_not_reactivated(organization, target):
    from django.core.exceptions import ValidationError

    from hmis_accounts import services as activity
    from tests.hmis_access.hmis import agency_admin

    account = _granted(organization, "dreyes")
    administrator = agency_admin(organization)
    # Asked for while the person was still there, for an account gone Inactive by the no-login rule.
    HMISAccount.objects.filter(pk=account.pk).update(status=HMISAccount.Status.INACTIVE,
                                                     inactive_reason=HMISAccount.InactiveReason.NO_LOGIN)
    waiting = activity.reactivation_request_create(actor=administrator, account=account)
    people.membership_remove(actor=_implementer(),
                             membership=Membership.objects.get(user=account.user, organization=organization))

    with pytest.raises(ValidationError, match="no longer with"):
        activity.hmis_account_reactivate(actor=StaffFactory(groups=["CoC provisioning"]),
                                         reactivation_request=waiting)
    account.refresh_from_db()
    assert account.status == HMISAccount.Status.INACTIVE
    assert not ProvisioningCommand.objects.filter(subject=str(account.pk), kind=Kind.ACTIVATE).exists()
    waiting.delete()
    with pytest.raises(ValidationError, match="no longer with"):
        activity.reactivation_request_create(actor=account.user, account=account)


# --- the agency hears that a departure closed an account --------------------------------------------

def _departure_mail(administrator):
    from hmis_portal.core.models import Notification

    return Notification.objects.filter(to_email=administrator.email, subject__contains="Inactive")


def test_a_departure_that_closes_an_account_tells_the_agency_s_administrators(organization, target):
    from django.urls import reverse

    account = _granted(organization, "dreyes")
    administrators = [MembershipFactory(organization=organization, persona="agency_administrator").user
                      for _ in range(2)]
    elsewhere = MembershipFactory(organization=OrganizationFactory(), persona="agency_administrator").user
    membership = Membership.objects.get(user=account.user, organization=organization)

    people.membership_remove(actor=_implementer(), membership=membership)

    for administrator in administrators:
        [mail] = _departure_mail(administrator)
        assert mail.subject == f"HMIS account dreyes is now Inactive: {account.user.full_name} left {organization}"
        assert f"{account.user.full_name} is no longer with {organization}" in mail.body
        assert "dreyes" in mail.body and "new access request" in mail.body
        assert mail.link == reverse("agency-hmis-accounts", kwargs={"slug": organization.slug})
    assert not _departure_mail(elsewhere).exists()
    assert not _departure_mail(account.user).exists()


@pytest.mark.parametrize("requesters, named", [
    ("program_manager", "Program Manager"),
    ("executive_director", "Executive Director / Authorized Representative")])
def test_the_departure_mail_names_who_asks_for_access_under_the_coc_s_policy(organization, target, requesters,
                                                                            named):
    from hmis_access.models import AccessPolicy

    account = _granted(organization, "dreyes")
    administrator = MembershipFactory(organization=organization, persona="agency_administrator").user
    policy = AccessPolicy.current()
    policy.access_requesters = requesters
    policy.save()

    people.membership_remove(actor=_implementer(),
                             membership=Membership.objects.get(user=account.user, organization=organization))

    [mail] = _departure_mail(administrator)
    assert f"the agency's {named} can ask for their HMIS access again with a new access request" in mail.body
    other = "Executive Director" if named == "Program Manager" else "Program Manager"  # only the policy's
    assert other not in mail.body


def test_no_mail_when_the_departure_changes_no_account(organization, target):
    account = _granted(organization, "dreyes")
    administrator = MembershipFactory(organization=organization, persona="agency_administrator").user
    # Another persona kept: no departure. Then an account already Inactive: nothing changes.
    MembershipFactory(user=account.user, organization=organization, persona="program_manager")
    people.membership_remove(actor=_implementer(),
                             membership=Membership.objects.get(user=account.user, organization=organization,
                                                               persona="staff"))
    assert not _departure_mail(administrator).exists()
    HMISAccount.objects.filter(pk=account.pk).update(status=HMISAccount.Status.INACTIVE)
    people.membership_remove(actor=_implementer(), membership=Membership.objects.get(user=account.user,
                                                                                      organization=organization))
    assert not _departure_mail(administrator).exists()


def test_a_departure_that_rolls_back_tells_nobody(organization, target):
    account = _granted(organization, "dreyes")
    administrator = MembershipFactory(organization=organization, persona="agency_administrator").user
    membership = Membership.objects.get(user=account.user, organization=organization)
    with transaction.atomic():
        people.membership_remove(actor=_implementer(), membership=membership)
        assert _departure_mail(administrator).count() == 1  # written with the departure
        transaction.set_rollback(True)
    assert not _departure_mail(administrator).exists()


# --- an account made Inactive twice in one day ------------------------------------------------------

def test_inactive_again_the_same_day_reaches_the_hmis_again(organization, target):
    from hmis_accounts import services as activity
    from tests.hmis_access.hmis import agency_admin

    account = _granted(organization, "dreyes")
    provisioning.deliver_pending()
    morning = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    activity.hmis_account_make_inactive(accounts=account, reason=HMISAccount.InactiveReason.NO_LOGIN,
                                        note="No login.", at=morning)
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is False

    request = activity.reactivation_request_create(actor=agency_admin(organization), account=account)
    activity.hmis_account_reactivate(actor=StaffFactory(groups=["CoC provisioning"]), reactivation_request=request)
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is True

    account.refresh_from_db()
    later = morning + dt.timedelta(hours=2)
    activity.hmis_account_make_inactive(accounts=account, reason=HMISAccount.InactiveReason.NO_LOGIN,
                                        note="No login.", at=later)
    # The same decision written again (a sweep run twice) adds nothing.
    activity.hmis_account_make_inactive(accounts=[account.pk], reason=HMISAccount.InactiveReason.NO_LOGIN,
                                        note="No login.", at=later)
    keys = list(_deactivations(account).order_by("pk").values_list("dedupe_key", flat=True))
    assert keys == [f"inactive:{morning.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ}:{account.pk}",
                    f"inactive:{later.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ}:{account.pk}"]
    provisioning.deliver_pending()
    assert target.user("dreyes")["active"] is False
