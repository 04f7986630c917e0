"""LA's training policy, exactly the two tables of SPEC §4 (from seed 000, step 3).

CoC staff change these rows in the admin; this only loads the defaults.
"""

from decimal import Decimal

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

# (code, title, hours, delivery, new users only, also satisfies)
COURSES = [
    ("hmis-10", "HMIS 10", Decimal("3"), "webinar", True, []),
    ("hmis-509-first-half", "HMIS 509 first half", Decimal("3"), "classroom", False, []),
    ("hmis-509-full", "HMIS 509 full class", Decimal("7"), "classroom", False, ["hmis-509-first-half"]),
    ("hmis-102", "HMIS 102", Decimal("3"), "classroom", False, []),
    ("hmis-510", "HMIS 510", None, "webinar", False, []),
    ("hmis-511", "HMIS 511", Decimal("1"), "webinar", False, []),
]

# Least to most access (seed 000). (code, name, rank, HMIS role, any program
# type, program type codes, required course codes)
ROLES = [
    ("housing-provider", "Housing Provider", 1, "CES_Housing_Provider", False, ["permanent-housing"], ["hmis-511"]),
    ("assessment-only", "Assessment Only", 2, "CES_Assessments", False, ["assessment-only"],
     ["hmis-10", "hmis-509-first-half"]),
    ("housing-navigator", "Housing Navigator / Case Manager", 3, "CES_Standard", False,
     ["access-center", "emergency-shelter", "transitional-housing"], ["hmis-10", "hmis-509-full"]),
    ("outreach", "Outreach", 4, "CES_Outreach", False, ["outreach"], ["hmis-10", "hmis-102"]),
    ("community-coordinator", "Community Coordinator", 5, "CES_Coordinator", True, [], ["hmis-10", "hmis-509-full"]),
    ("community-matcher", "Community Matcher", 6, "CES_Matcher", True, [],
     ["hmis-10", "hmis-509-full", "hmis-510"]),
]

HP, AO, NAV, OUT, CC, CM = (r[0] for r in ROLES)
# The access matrix, row by row.
ACCESS_MATRIX = [
    ("Enter CES Survey", [AO, NAV, OUT, CC, CM]),
    ("Provide Housing Navigation Services", [NAV, OUT, CC, CM]),
    ("Provide Case Management Services", [NAV, OUT, CC, CM]),
    ("View Client Prioritization List", [NAV, OUT, CC, CM]),
    ("View Housing Resource List", [HP, NAV, OUT, CC, CM]),
    ("Manage Client Prioritization List", [CC, CM]),
    ("Manage Housing Resource List", [HP, CC, CM]),
    ("Enter Vacancy Form", [HP, CC, CM]),
    ("Provide Services prior to CES Survey", [OUT]),
]

FORMS = [
    ("hmis-10-acknowledgement", "HMIS 10 Acknowledgement", True,
     "Signed after completing HMIS 10 (new users only)."),
    ("user-agreement", "User Agreement", False, "The HMIS User Agreement, signed by the user."),
]


def load(apps, schema_editor):
    Course = apps.get_model("training", "Course")
    CESRole = apps.get_model("training", "CESRole")
    AccessCapability = apps.get_model("training", "AccessCapability")
    RequiredForm = apps.get_model("training", "RequiredForm")
    ProgramType = apps.get_model("onboarding", "ProgramType")

    courses = {}
    for order, (code, title, hours, delivery, new_only, _) in enumerate(COURSES):
        courses[code], _ = Course.objects.update_or_create(
            code=code, defaults={"title": title, "hours": hours, "delivery": delivery, "new_users_only": new_only,
                                 "sort_order": order})
    for code, *_, covers in COURSES:
        courses[code].also_satisfies.set([courses[c] for c in covers])

    roles = {}
    for code, name, rank, hmis_role, any_type, type_codes, course_codes in ROLES:
        role, _ = CESRole.objects.update_or_create(
            code=code, defaults={"name": name, "access_rank": rank, "hmis_role": hmis_role,
                                 "any_program_type": any_type})
        role.program_types.set(ProgramType.objects.filter(code__in=type_codes))
        role.required_courses.set([courses[c] for c in course_codes])
        roles[code] = role

    for order, (name, role_codes) in enumerate(ACCESS_MATRIX):
        row, _ = AccessCapability.objects.update_or_create(name=name, defaults={"sort_order": order})
        row.roles.set([roles[c] for c in role_codes])

    for order, (code, title, new_only, description) in enumerate(FORMS):
        RequiredForm.objects.update_or_create(
            code=code, defaults={"title": title, "new_users_only": new_only, "description": description,
                                 "sort_order": order})


def grant(apps, grants):
    """Was `accounts.groups.grant` (a migration imports no app code): `grants`
    maps a CoC staff group's name to {app_label: [permission codenames]}.
    Permissions are normally created after migrate; they are created here so
    that a new database gets its groups in one pass."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_label in {label for per_app in grants.values() for label in per_app}:
        create_permissions(global_apps.get_app_config(app_label), apps=apps, verbosity=0)
    for group_name, per_app in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for app_label, codenames in per_app.items():
            permissions = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
            missing = set(codenames) - {p.codename for p in permissions}
            if missing:
                raise RuntimeError(f"Unknown permissions for {app_label}: {sorted(missing)}")
            group.permissions.add(*permissions)


# CoC staff groups' admin permissions on the training app (granted by
# accounts 0003 before: a migration of accounts depends on nothing above it): training staff keep the policy, sessions and
# reviews; provisioning staff grant access; system admins do both.
TRAINING_POLICY = ["course", "cesrole", "accesscapability", "requiredform"]
TRAINING_RECORDS = ["trainingsession", "registration", "completion", "certificate", "formsubmission"]


def _perms(verbs, models):
    return [f"{verb}_{model}" for model in models for verb in verbs]


def grant_groups(apps, schema_editor):
    training_staff = (_perms(["view", "add", "change", "delete"], TRAINING_POLICY)
                      + _perms(["view", "add", "change", "delete"], ["trainingsession"])
                      + _perms(["view", "change"], ["registration", "certificate", "formsubmission"])
                      + ["view_completion"])
    read_all = _perms(["view"], TRAINING_POLICY + TRAINING_RECORDS)
    grant(apps, {
        "CoC training": {"training": training_staff},
        "CoC provisioning": {"training": read_all},
        "CoC system admin": {"training": training_staff},
        "CoC implementation": {"training": _perms(["view"], TRAINING_POLICY)},
    })


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0001_training_policy_and_records"),
        ("onboarding", "0002_default_program_types"),
    ]
    operations = [migrations.RunPython(load, migrations.RunPython.noop),
                  migrations.RunPython(grant_groups, migrations.RunPython.noop)]
