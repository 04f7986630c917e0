"""What the data migrations load (staff groups and permissions, program
types, CES roles, training policy, need statuses, policy rows), loaded again.

A transactional test (the live server, threads) starts from a flushed
database; every loader here is idempotent, so calling `reload()` first gives
it the same CoC policy a migrated database has."""

import importlib

from django.apps import apps

LOADERS = [
    ("accounts.migrations.0002_coc_staff_groups", ["create_groups"]),
    ("onboarding.migrations.0002_default_program_types", ["load"]),
    ("onboarding.migrations.0009_program_type_hud_project_type", ["load"]),
    ("onboarding.migrations.0010_program_type_hud_referral_event", ["load"]),
    ("training.migrations.0002_la_default_policy", ["load", "grant_groups"]),
    ("training.migrations.0005_form_tied_to_course", ["link_forms"]),
    ("training.migrations.0009_ces_role_hmis_group", ["groups_named_as_roles"]),
    ("hmis_access.migrations.0002_policy_and_groups", ["load_policy"]),
    # The groups' permissions on HMIS access and HMIS accounts, as they stand since reactivations moved.
    ("hmis_accounts.migrations.0001_reactivation_requests_move_in", ["grant_groups"]),
    ("onboarding.migrations.0004_ces_roles_policy_and_groups", ["load_roles_and_policy", "grant_groups"]),
    ("referrals.migrations.0002_default_need_statuses", ["load"]),
    ("referrals.migrations.0003_ces_team_permissions", ["grant_permissions"]),
]


def reload() -> None:
    for module_name, functions in LOADERS:
        module = importlib.import_module(module_name)
        for name in functions:
            getattr(module, name)(apps, None)
