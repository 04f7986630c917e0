"""A database made before HMIS access had its own app upgrades in place: its
rows stay where they are and the new app reads them, with the CoC groups'
permissions and the audit trail still attached."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("accounts", "0004_merge_0003_access_requests_0003_hmis_account_activity"),
          ("onboarding", "0004_ces_roles_policy_and_groups"), ("training", "0002_la_default_policy"),
          ("core", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_an_existing_database_keeps_its_hmis_accounts_requests_permissions_and_history(policy_rows):
    old = _migrate(BEFORE)
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
    _migrate(leaves)

    from django.contrib.auth.models import Group as LiveGroup
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    from hmis_access.models import HMISAccount as LiveAccount
    from hmis_portal.core.audit import events_for

    upgraded = LiveAccount.objects.get(hmis_username="kept.user")
    assert upgraded.user.email == "kept@agency.example.org" and upgraded.organization.name == "Kept Agency"
    assert LiveContentType.objects.get_for_model(LiveAccount).pk == old_type.pk
    assert not LiveContentType.objects.filter(app_label="accounts", model="hmisaccount").exists()
    assert [event.verb for event in events_for(upgraded)] == ["provisioned"]
    provisioning = LiveGroup.objects.get(name="CoC provisioning")
    assert provisioning.permissions.filter(content_type__app_label="hmis_access",
                                           codename="change_hmisaccount").exists()
    assert Group.objects.filter(name="CoC provisioning").exists()
