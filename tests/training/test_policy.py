"""The two SPEC §4 tables, loaded as data, and what they mean for a user."""

import pytest

from training import policy
from training.models import AccessCapability, CESRole, Course, RequiredForm

pytestmark = pytest.mark.django_db

# SPEC §4, trainings and HMIS role: program types, role, trainings, HMIS role.
TRAINING_TABLE = [
    ("housing-provider", {"permanent-housing"}, False, ["HMIS 511"], "CES_Housing_Provider"),
    ("assessment-only", {"assessment-only"}, False, ["HMIS 10", "HMIS 509 first half"], "CES_Assessments"),
    ("housing-navigator", {"access-center", "emergency-shelter", "transitional-housing"}, False,
     ["HMIS 10", "HMIS 509 full class"], "CES_Standard"),
    ("outreach", {"outreach"}, False, ["HMIS 10", "HMIS 102"], "CES_Outreach"),
    ("community-coordinator", set(), True, ["HMIS 10", "HMIS 509 full class"], "CES_Coordinator"),
    ("community-matcher", set(), True, ["HMIS 10", "HMIS 509 full class", "HMIS 510"], "CES_Matcher"),
]


def _role(code):
    return CESRole.objects.prefetch_related("required_courses__also_satisfies", "program_types").get(code=code)


@pytest.mark.parametrize("code,types,any_type,trainings,hmis_role", TRAINING_TABLE, ids=[r[0] for r in TRAINING_TABLE])
def test_every_row_of_the_training_table(code, types, any_type, trainings, hmis_role):
    role = _role(code)
    assert {t.code for t in role.program_types.all()} == types
    assert role.any_program_type is any_type
    assert role.hmis_role == hmis_role
    # A new user takes every training in the row; an existing user all but HMIS 10.
    assert [c.title for c in policy.required_courses([role], new_user=True)] == trainings
    assert [c.title for c in policy.required_courses([role], new_user=False)] == [t for t in trainings
                                                                                   if t != "HMIS 10"]


def test_course_hours_and_delivery_are_the_seed_s():
    hours = {c.title: (c.hours, c.delivery, c.new_users_only) for c in Course.objects.all()}
    assert hours["HMIS 10"] == (3, "webinar", True)
    assert hours["HMIS 509 first half"][0] == 3
    assert hours["HMIS 509 full class"][0] == 7
    assert hours["HMIS 102"][0] == 3
    assert hours["HMIS 511"][:2] == (1, "webinar")
    assert hours["HMIS 510"][1] == "webinar"


def test_roles_rank_least_to_most_access_as_in_seed_000():
    assert [r.code for r in CESRole.objects.order_by("access_rank")] == [
        "housing-provider", "assessment-only", "housing-navigator", "outreach", "community-coordinator",
        "community-matcher"]


@pytest.mark.parametrize("codes,expected", [
    (["housing-provider", "assessment-only"], "CES_Assessments"),
    (["housing-provider", "housing-navigator"], "CES_Standard"),
    (["assessment-only", "outreach"], "CES_Outreach"),
    (["outreach", "community-coordinator", "housing-provider"], "CES_Coordinator"),
    (["community-matcher", "housing-provider"], "CES_Matcher"),
    (["housing-provider"], "CES_Housing_Provider"),
])
def test_several_roles_get_the_highest_ranked_hmis_role(codes, expected):
    assert policy.highest_role([_role(c) for c in codes]).hmis_role == expected


def test_highest_role_follows_the_ranks_staff_edit():
    provider = CESRole.objects.get(code="housing-provider")
    provider.access_rank = 99
    provider.save()
    assert policy.highest_role([_role("housing-provider"), _role("outreach")]).hmis_role == "CES_Housing_Provider"


def test_a_course_required_by_several_roles_is_counted_once_and_the_full_class_covers_the_half():
    courses = policy.required_courses([_role("assessment-only"), _role("housing-navigator"),
                                       _role("community-matcher")], new_user=True)
    assert [c.title for c in courses] == ["HMIS 10", "HMIS 509 full class", "HMIS 510"]


def test_forms_hmis_10_acknowledgement_only_for_new_users_who_take_hmis_10():
    forms = list(RequiredForm.objects.select_related("course"))
    navigator = policy.required_courses([_role("housing-navigator")], new_user=True)
    assert [f.title for f in policy.required_forms(forms, new_user=True, courses=navigator)] == [
        "HMIS 10 Acknowledgement", "User Agreement"]
    existing = policy.required_courses([_role("housing-navigator")], new_user=False)
    assert [f.title for f in policy.required_forms(forms, new_user=False, courses=existing)] == ["User Agreement"]


def test_the_hmis_10_acknowledgement_belongs_to_hmis_10():
    assert RequiredForm.objects.get(code="hmis-10-acknowledgement").course.code == "hmis-10"
    assert RequiredForm.objects.get(code="user-agreement").course is None
    provider = policy.required_courses([_role("housing-provider")], new_user=True)
    forms = list(RequiredForm.objects.select_related("course"))
    assert [f.title for f in policy.required_forms(forms, new_user=True, courses=provider)] == ["User Agreement"]


ACCESS_MATRIX = {
    "Enter CES Survey": {"assessment-only", "housing-navigator", "outreach", "community-coordinator",
                         "community-matcher"},
    "Provide Housing Navigation Services": {"housing-navigator", "outreach", "community-coordinator",
                                            "community-matcher"},
    "Provide Case Management Services": {"housing-navigator", "outreach", "community-coordinator",
                                         "community-matcher"},
    "View Client Prioritization List": {"housing-navigator", "outreach", "community-coordinator",
                                        "community-matcher"},
    "View Housing Resource List": {"housing-provider", "housing-navigator", "outreach", "community-coordinator",
                                   "community-matcher"},
    "Manage Client Prioritization List": {"community-coordinator", "community-matcher"},
    "Manage Housing Resource List": {"housing-provider", "community-coordinator", "community-matcher"},
    "Enter Vacancy Form": {"housing-provider", "community-coordinator", "community-matcher"},
    "Provide Services prior to CES Survey": {"outreach"},
}


def test_the_access_matrix_is_the_seed_s():
    loaded = {row.name: {r.code for r in row.roles.all()} for row in AccessCapability.objects.prefetch_related("roles")}
    assert loaded == ACCESS_MATRIX
    assert list(AccessCapability.objects.values_list("name", flat=True)) == list(ACCESS_MATRIX)
