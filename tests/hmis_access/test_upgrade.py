"""A database made before HMIS access had its own app upgrades in place: its
rows stay where they are and the new app reads them, with the CoC groups'
permissions and the audit trail still attached."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.database import migrate_to

BEFORE = [("accounts", "0004_merge_0003_access_requests_0003_hmis_account_activity"),
          ("onboarding", "0004_ces_roles_policy_and_groups"), ("training", "0002_la_default_policy"),
          ("core", "0001_initial")]


@pytest.fixture
def empty_database(transactional_db, django_db_blocker):
    """The default connection on a database of its own with no table, for the
    test's duration. A database of a release long past is made as that release
    made it, by migrating forward to it: migrating the test database back
    there undid nearly every migration, one by one, and took most of this
    file's time."""
    from tests import database

    test_name = connection.settings_dict["NAME"]
    with django_db_blocker.unblock():
        name = database.create_empty(f"{test_name}_release_before")
        database.use(name)
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            database.use(test_name)
            database.drop(name)


@pytest.mark.django_db(transaction=True)
def test_an_existing_database_keeps_its_hmis_accounts_requests_permissions_and_history(empty_database):
    old = migrate_to(BEFORE)
    User = old.get_model("accounts", "User")
    Organization = old.get_model("accounts", "Organization")
    HMISAccount = old.get_model("accounts", "HMISAccount")
    ContentType = old.get_model("contenttypes", "ContentType")
    Group = old.get_model("auth", "Group")
    AuditEvent = old.get_model("core", "AuditEvent")
    user = User.objects.create(email="kept@agency.example.org", full_name="Kept User")
    agency = Organization.objects.create(name="Kept Agency", slug="kept-agency")
    account = HMISAccount.objects.create(user=user, organization=agency, hmis_username="kept.user",
                                         hmis_role="CES_Standard", provisioned_at=timezone.now(),
                                         inactivity_counted_from=dt.date(2026, 11, 1),
                                         retraining_counted_from=dt.date(2026, 11, 1), calendar_token="t" * 32)
    old_type = ContentType.objects.get_or_create(app_label="accounts", model="hmisaccount")[0]
    AuditEvent.objects.create(content_type=old_type, object_id=str(account.pk), verb="provisioned",
                              object_repr="kept.user")

    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate_to(leaves)

    from django.contrib.auth.models import Group as LiveGroup
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    from hmis_access.models import HMISAccount as LiveAccount
    from hmis_portal.core.audit import events_for

    upgraded = LiveAccount.objects.get(hmis_username="kept.user")
    assert upgraded.user.email == "kept@agency.example.org" and upgraded.organization.name == "Kept Agency"
    assert (upgraded.hmis_role, upgraded.inactivity_counted_from, upgraded.retraining_counted_from,
            upgraded.calendar_token) == ("CES_Standard", dt.date(2026, 11, 1), dt.date(2026, 11, 1), "t" * 32)
    assert LiveContentType.objects.get_for_model(LiveAccount).pk == old_type.pk
    assert not LiveContentType.objects.filter(app_label="accounts", model="hmisaccount").exists()
    assert [event.verb for event in events_for(upgraded)] == ["provisioned"]
    provisioning = LiveGroup.objects.get(name="CoC provisioning")
    assert provisioning.permissions.filter(content_type__app_label="hmis_access",
                                           codename="change_hmisaccount").exists()
    assert Group.objects.filter(name="CoC provisioning").exists()


@pytest.mark.django_db(transaction=True)
def test_requests_keep_their_due_date_as_the_end_of_that_local_day_and_today_s_escalation(policy_rows):
    import zoneinfo

    from hmis_access.models import AccessPolicy, AccessRequest
    from hmis_accounts.models import ReactivationRequest
    from hmis_portal.core.calendar import end_of_day
    from tests.factories import HMISAccountFactory, OrganizationFactory, UserFactory

    la = zoneinfo.ZoneInfo("America/Los_Angeles")
    before = [("hmis_access", "0006_fewer_account_indexes")]
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    agency, person, other = OrganizationFactory(), UserFactory(), UserFactory()
    account = HMISAccountFactory(organization=agency, user=other, status="inactive")
    old = migrate_to(before)
    OldRequest = old.get_model("hmis_access", "AccessRequest")
    OldReactivation = old.get_model("hmis_access", "ReactivationRequest")
    ready = dt.datetime(2026, 11, 25, 9, tzinfo=la)
    # Escalated on Dec 2 (after its due date) and flagged due today on Dec 1.
    escalated = OldRequest.objects.create(organization_id=agency.pk, user_id=person.pk, status="ready", ready_at=ready,
                                          provisioning_due_on=dt.date(2026, 12, 1), last_flagged_on=dt.date(2026, 12, 2))
    flagged = OldReactivation.objects.create(account_id=account.pk, user_id=other.pk, organization_id=agency.pk,
                                             requested_by_id=other.pk, status="ready", ready_at=ready,
                                             provisioning_due_on=dt.date(2026, 12, 1),
                                             last_flagged_on=dt.date(2026, 12, 1))
    migrate_to(leaves)

    upgraded = AccessRequest.objects.get(pk=escalated.pk)
    assert upgraded.provisioning_due_at == end_of_day(dt.date(2026, 12, 1)) == dt.datetime(2026, 12, 2, tzinfo=la)
    assert (upgraded.last_flagged_on, upgraded.last_escalated_on) == (dt.date(2026, 12, 2), dt.date(2026, 12, 2))
    reactivation = ReactivationRequest.objects.get(pk=flagged.pk)
    assert reactivation.provisioning_due_at == end_of_day(dt.date(2026, 12, 1))
    assert (reactivation.last_flagged_on, reactivation.last_escalated_on) == (dt.date(2026, 12, 1), None)
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (3, None)


BEFORE_ACCOUNTS_SPLIT = [("hmis_access", "0008_after_approval_and_deadline_in_hours")]


@pytest.mark.django_db(transaction=True)
def test_reactivation_requests_move_to_hmis_accounts_in_place_with_permissions_and_history(policy_rows):
    """A database of the release before HMIS accounts had their own app: its
    reactivation requests stay in their table, the new app reads them with
    their audit trail and the CoC groups' permissions, and the move steps
    back and forward again with every row kept."""
    from django.contrib.auth.models import Group as LiveGroup
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    from hmis_accounts.models import ReactivationRequest
    from hmis_portal.core.audit import events_for
    from tests.factories import HMISAccountFactory, OrganizationFactory, UserFactory

    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    agency, person = OrganizationFactory(), UserFactory()
    account = HMISAccountFactory(organization=agency, user=person, status="inactive")
    old = migrate_to(BEFORE_ACCOUNTS_SPLIT)
    OldReactivation = old.get_model("hmis_access", "ReactivationRequest")
    ContentType = old.get_model("contenttypes", "ContentType")
    AuditEvent = old.get_model("core", "AuditEvent")
    kept = OldReactivation.objects.create(account_id=account.pk, user_id=person.pk, organization_id=agency.pk,
                                          requested_by_id=person.pk, status="waiting_for_retraining",
                                          note="Back from leave")
    done = OldReactivation.objects.create(account_id=account.pk, user_id=person.pk, organization_id=agency.pk,
                                          requested_by_id=person.pk, status="declined", decline_reason="Left")
    old_type = ContentType.objects.get(app_label="hmis_access", model="reactivationrequest")
    AuditEvent.objects.create(content_type=old_type, object_id=str(kept.pk), verb="requested reactivation",
                              object_repr=str(kept.pk))

    migrate_to(leaves)
    LiveContentType.objects.clear_cache()

    moved = ReactivationRequest.objects.get(pk=kept.pk)
    assert (moved.account_id, moved.status, moved.note) == (account.pk, "waiting_for_retraining", "Back from leave")
    assert ReactivationRequest.objects.get(pk=done.pk).decline_reason == "Left"
    assert ReactivationRequest.objects.count() == 2
    assert LiveContentType.objects.get_for_model(ReactivationRequest).pk == old_type.pk
    assert not LiveContentType.objects.filter(app_label="hmis_access", model="reactivationrequest").exists()
    assert [event.verb for event in events_for(moved)] == ["requested reactivation"]
    for group, codename in [("CoC provisioning", "change_reactivationrequest"),
                            ("CoC training", "view_reactivationrequest"),
                            ("CoC system admin", "change_reactivationrequest")]:
        assert LiveGroup.objects.get(name=group).permissions.filter(
            content_type__app_label="hmis_accounts", codename=codename).exists(), (group, codename)
    # The account itself stays where the grant made it.
    assert LiveContentType.objects.filter(app_label="hmis_access", model="hmisaccount").exists()

    # Back to the release before, and forward again: nothing lost either way.
    old = migrate_to(BEFORE_ACCOUNTS_SPLIT)
    LiveContentType.objects.clear_cache()
    back = old.get_model("hmis_access", "ReactivationRequest")
    assert sorted(back.objects.values_list("pk", flat=True)) == sorted([kept.pk, done.pk])
    assert old.get_model("contenttypes", "ContentType").objects.get(
        app_label="hmis_access", model="reactivationrequest").pk == old_type.pk
    migrate_to(leaves)
    LiveContentType.objects.clear_cache()
    assert ReactivationRequest.objects.count() == 2
    assert LiveContentType.objects.get_for_model(ReactivationRequest).pk == old_type.pk
    assert [event.verb for event in events_for(ReactivationRequest.objects.get(pk=kept.pk))] == [
        "requested reactivation"]
