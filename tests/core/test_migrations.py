from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"makemigrations would create migrations:\n{out.getvalue()}" if exit_.code else "")


@pytest.mark.django_db(transaction=True)
def test_signing_secrets_kept_in_clear_are_sealed_by_the_upgrade_and_opened_by_going_back():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from hmis_portal.core.sealed import unseal
    from tests.database import migrate_to

    before = [("core", "0006_notification_invitation")]
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = migrate_to(before)
    clear = "whsec_" + "A" * 43 + "="
    pk = old.get_model("core", "WebhookSubscription").objects.create(
        url="https://hooks.example.org/in", event_types=" referral.created ", secret=clear).pk
    try:
        new = migrate_to(leaves)
        stored = new.get_model("core", "WebhookSubscription").objects.get(pk=pk).secret
        assert stored.startswith("sealed:") and clear not in stored and unseal(stored) == clear
        assert migrate_to(before).get_model("core", "WebhookSubscription").objects.get(pk=pk).secret == clear
    finally:
        migrate_to(leaves)
