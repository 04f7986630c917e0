"""A person with several CES roles gets the HMIS role the pack's access
matrix says (seed 000: "the highest, appropriate level of access"): the
lowest-ranked HMIS role, no lower than their own highest, whose capabilities
cover every capability of their roles; where none does, the highest, and the
grant page names the capabilities it leaves out."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hmis_access.checklist import build_checklist
from hmis_portal.policy_pack import PACK_DIR
from tests.factories import StaffFactory
from tests.training.factories import finish_everything, identify, participating
from training.models import AccessCapability, CESRole

pytestmark = pytest.mark.django_db

SEED_MATRIX = {
    "Enter CES Survey": ["assessment-only", "housing-navigator", "outreach", "community-coordinator",
                         "community-matcher"],
    "Provide Housing Navigation Services": ["housing-navigator", "outreach", "community-coordinator",
                                            "community-matcher"],
    "Provide Case Management Services": ["housing-navigator", "outreach", "community-coordinator",
                                         "community-matcher"],
    "View Client Prioritization List": ["housing-navigator", "outreach", "community-coordinator",
                                        "community-matcher"],
    "View Housing Resource List": ["housing-provider", "housing-navigator", "outreach", "community-coordinator",
                                   "community-matcher"],
    "Manage Client Prioritization List": ["community-coordinator", "community-matcher"],
    "Manage Housing Resource List": ["housing-provider", "community-coordinator", "community-matcher"],
    "Enter Vacancy Form": ["housing-provider", "community-coordinator", "community-matcher"],
    "Provide Services prior to CES Survey": ["outreach"],
}


def _load(name):
    call_command("load_policy", str(name), stdout=io.StringIO(), stderr=io.StringIO())


# A program each role works in.
PROGRAM_OF = {"housing-provider": "permanent-housing", "assessment-only": "assessment-only",
              "housing-navigator": "access-center", "outreach": "outreach"}


def _request(organization, *codes):
    programs = participating(organization, *dict.fromkeys(PROGRAM_OF.get(code, "access-center") for code in codes))
    return identify(organization, role_codes=codes, programs=list(programs.values()))


@pytest.mark.parametrize("name", ["la", "mo-bos", "agency-admin"])
def test_every_pack_carries_the_access_matrix(name):
    pack = json.loads((PACK_DIR / f"{name}.json").read_text())
    assert {row["capability"]: row["roles"] for row in pack["access_matrix"]} == SEED_MATRIX
    _load(name)
    loaded = {row.name: sorted(r.code for r in row.roles.all())
              for row in AccessCapability.objects.prefetch_related("roles")}
    assert loaded == {name: sorted(codes) for name, codes in SEED_MATRIX.items()}


@pytest.mark.parametrize("codes, role, left_out", [
    (("housing-navigator",), "CES_Standard", []),
    (("community-matcher",), "CES_Matcher", []),
    (("housing-navigator", "outreach"), "CES_Outreach", []),
    (("assessment-only", "housing-navigator"), "CES_Standard", []),
    # The Housing Provider's resource list and vacancy form: only Coordinator and Matcher have them.
    (("housing-provider", "housing-navigator"), "CES_Coordinator", []),
    # Nobody but Outreach provides services before the survey: the highest, leaving that out.
    (("housing-provider", "outreach"), "CES_Matcher", ["Provide Services prior to CES Survey"]),
])
def test_the_hmis_role_covers_every_capability_of_the_person_s_roles(organization, codes, role, left_out):
    checklist = build_checklist(_request(organization, *codes))
    assert checklist.hmis_role == role
    assert checklist.left_out == left_out


def test_the_checklist_and_the_grant_page_show_the_role_and_what_it_leaves_out(organization, client):
    request = _request(organization, "housing-provider", "outreach")
    finish_everything(request, StaffFactory(groups=["CoC training"]))
    client.force_login(request.user)
    page = client.get(reverse("my-access")).content.decode()
    assert 'data-testid="hmis-role">CES_Matcher<' in page
    assert "Provide Services prior to CES Survey" in page
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    grant = client.get(reverse("admin:hmis_access_accessrequest_grant", args=[request.pk])).content.decode()
    assert "<strong>CES_Matcher</strong>" in grant
    assert "leaves out" in grant and "Provide Services prior to CES Survey" in grant


def test_a_matrix_row_naming_an_unknown_role_is_refused_with_file_and_line(tmp_path):
    pack = json.loads((PACK_DIR / "la.json").read_text())
    pack["access_matrix"][0]["roles"].append("street-medic")
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=2))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if '"street-medic"' in text)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:{line}: access_matrix[0].roles[5]: unknown CES role “street-medic”" in err.getvalue()


def test_a_role_with_its_own_load_error_is_not_reported_again_by_the_matrix(tmp_path):
    pack = json.loads((PACK_DIR / "la.json").read_text())
    pack["ces_roles"][5]["hmis_group"] = "   "
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=2))
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"\(1 problem\)"):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert "access_matrix" not in err.getvalue()


def test_a_matrix_row_the_pack_leaves_out_is_removed(tmp_path):
    pack = json.loads((PACK_DIR / "la.json").read_text())
    pack["access_matrix"] = [row for row in pack["access_matrix"] if row["capability"] != "Enter Vacancy Form"]
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=2))
    out = io.StringIO()
    call_command("load_policy", str(path), stdout=out, stderr=io.StringIO())
    # The row after it moves up one place.
    assert "access matrix: 0 added, 1 changed, 1 removed, 7 unchanged" in out.getvalue()
    assert "  removed: Enter Vacancy Form" in out.getvalue()
    assert not AccessCapability.objects.filter(name="Enter Vacancy Form").exists()
    assert CESRole.objects.filter(code="housing-provider").exists()
