import importlib

import pytest


@pytest.fixture
def policy_rows(transactional_db):
    """Tests on a flushed database (transactional tests, the live server) lose
    what data migrations loaded: reload the CoC staff groups and their
    permissions, program types, CES roles and the onboarding policy."""
    from django.apps import apps

    importlib.import_module("accounts.migrations.0002_coc_staff_groups").create_groups(apps, None)
    importlib.import_module("onboarding.migrations.0002_default_program_types").load(apps, None)
    data = importlib.import_module("onboarding.migrations.0004_ces_roles_policy_and_groups")
    data.load_roles_and_policy(apps, None)
    data.grant_groups(apps, None)
