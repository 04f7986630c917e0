"""Policy packs: each CoC's process loads with one command, is checked before
anything is written, and retires (never deletes) what it leaves out."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hmis_access.checklist import build_checklist
from hmis_access.forms import AccessRequestForm
from hmis_access.models import AccessPolicy, AccessRequest
from hmis_portal.policy_pack import PACK_DIR
from referrals import selectors as referral_selectors
from referrals.models import NeedStatus, Referral
from training.models import CESRole, Completion, Course, RequiredForm
from tests.referrals.factories import make_referral
from tests.training.factories import complete, identify, manager_of, participating

pytestmark = pytest.mark.django_db

KINDS = (Course, CESRole, RequiredForm, NeedStatus)


def _access_center(organization):
    return list(organization.programs.filter(program_type__code="access-center"))


def load(name, *args):
    out = io.StringIO()
    call_command("load_policy", str(name), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts():
    return {model.__name__: (model.objects.count(), model.objects.filter(active=True).count()) for model in KINDS} | {
        "provisioning": (AccessPolicy.current().provisioning_business_days, AccessPolicy.current().provisioning_hours)}


def test_la_on_a_freshly_migrated_database_changes_nothing():
    before = counts()
    out = load("la")
    assert out.splitlines()[-1] == "Nothing changed."
    assert "courses: 0 added, 0 changed, 0 retired, 7 unchanged" in out
    assert "need statuses: 0 added, 0 changed, 0 retired, 9 unchanged" in out
    assert counts() == before


@pytest.mark.parametrize("name", ["la", "mo-bos", "agency-admin"])
def test_each_pack_loads_and_a_second_load_changes_nothing(name):
    load(name)
    pack = json.loads((PACK_DIR / f"{name}.json").read_text())
    assert set(Course.objects.filter(active=True).values_list("code", flat=True)) == {
        c["code"] for c in pack["courses"]}
    assert set(RequiredForm.objects.filter(active=True).values_list("title", flat=True)) == {
        f["title"] for f in pack["required_forms"]}
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (
        pack["access_policy"].get("provisioning_business_days"), pack["access_policy"].get("provisioning_hours"))
    assert load(name).splitlines()[-1] == "Nothing changed."


def test_mo_bos_requires_its_two_trainings_and_its_form_of_every_role():
    load("mo-bos")
    titles = {"Security & Privacy Awareness", "Data Standards Training"}
    for role in CESRole.objects.filter(active=True):
        assert {c.title for c in role.required_courses.all()} == titles
    assert list(RequiredForm.objects.filter(active=True).values_list("title", flat=True)) == [
        "User Policy and Responsibilities"]
    assert AccessPolicy.current().provisioning_business_days == 3


def test_mo_bos_sets_the_data_partners_entry_deadline():
    from partnerships.models import PartnershipPolicy

    policy = PartnershipPolicy.current()
    policy.entry_business_days = 5
    policy.save()
    out = load("mo-bos")
    assert "data partnership policy: changed entry_business_days 5 → 3" in out
    assert PartnershipPolicy.current().entry_business_days == 3
    assert "data partnership policy: unchanged" in load("mo-bos")


def test_agency_admin_provisions_within_48_clock_hours_and_asks_for_the_user_agreement():
    # seed 004: "allow System Administrator to create user account within 24 – 48" hours.
    load("agency-admin")
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (None, 48)
    assert list(RequiredForm.objects.filter(active=True).values_list("title", flat=True)) == [
        "User Agreement", "User Request Form"]
    agreement = RequiredForm.objects.get(code="user-agreement")
    assert agreement.signer_roles == ["user", "agency_administrator", "executive_director"]
    assert agreement.in_portal and agreement.by_upload and not agreement.verify_portal_signatures
    request_form = RequiredForm.objects.get(code="user-request-form")
    assert (request_form.filed_by, request_form.signer_roles, request_form.signing) == (
        "agency_administrator", ["agency_administrator"], "upload")


def test_la_then_mo_bos_then_la_keeps_every_record_and_reactivates_la_rows(organization):
    manager_of(organization)
    participating(organization, "access-center", "permanent-housing")
    request = identify(organization, role_codes=("housing-navigator",), programs=_access_center(organization))
    complete(request.user, "hmis-10")
    referral = make_referral()
    load("la")
    load("mo-bos")
    assert not Course.objects.get(code="hmis-10").active
    assert not RequiredForm.objects.get(code="hmis-10-acknowledgement").active
    # Records that point at retired rows are still there and still point at them.
    assert Completion.objects.get(user=request.user).course.code == "hmis-10"
    assert Referral.objects.get(pk=referral.pk).status.code == "matched"
    assert list(AccessRequest.objects.get(pk=request.pk).roles.values_list("code", flat=True)) == ["housing-navigator"]
    out = load("la")
    assert "changed: hmis-10 (active)" in out
    assert set(Course.objects.filter(active=True).values_list("code", flat=True)) == {
        c["code"] for c in json.loads((PACK_DIR / "la.json").read_text())["courses"]}
    assert not Course.objects.get(code="security-privacy-awareness").active
    assert RequiredForm.objects.get(code="hmis-10-acknowledgement").active
    assert Completion.objects.get(user=request.user).course.code == "hmis-10"
    assert {c.title for c in CESRole.objects.get(code="housing-navigator").required_courses.all()} == {
        "HMIS 10", "HMIS 509 full class"}
    assert load("la").splitlines()[-1] == "Nothing changed."


def test_dry_run_reports_the_changes_and_saves_nothing():
    before = counts()
    out = load("mo-bos", "--dry-run")
    assert "courses: 2 added, 0 changed, 7 retired, 0 unchanged" in out
    assert out.splitlines()[-1] == "Dry run: nothing was saved."
    assert counts() == before
    assert not Course.objects.filter(code="data-standards").exists()


def test_a_retired_course_and_form_are_not_on_a_new_persons_checklist(organization):
    manager_of(organization)
    participating(organization, "access-center")
    load("mo-bos")
    request = identify(organization, role_codes=("housing-navigator",), new_user=True,
                       programs=_access_center(organization))
    labels = " | ".join(item.label for item in build_checklist(request).items)
    assert "Security & Privacy Awareness" in labels and "User Policy and Responsibilities" in labels
    assert "HMIS 10" not in labels and "HMIS 509" not in labels


def test_retired_roles_and_statuses_are_not_offered(organization):
    CESRole.objects.filter(code="outreach").update(active=False)
    NeedStatus.objects.filter(code="engaged").update(active=False)
    form = AccessRequestForm(organization=organization)
    assert "outreach" not in set(form.fields["roles"].queryset.values_list("code", flat=True))
    referral = make_referral()
    offered = {s.code for s in referral_selectors.next_statuses(referral.referred_by, referral)}
    assert "attempting-contact" in offered and "engaged" not in offered


# --- broken packs: each names the file and the line, and nothing is loaded ---

GOOD = {
    "courses": [{"code": "intro", "title": "Intro"}, {"code": "more", "title": "More"}],
    "ces_roles": [{"code": "housing-provider", "name": "Housing Provider", "access_rank": 1,
                   "hmis_role": "HP", "program_types": ["permanent-housing"], "required_courses": ["intro"]}],
    "required_forms": [{"code": "user-agreement", "title": "User Agreement", "course": None}],
    "need_statuses": [
        {"code": "matched", "name": "CES: Matched: Awaiting response by Housing Provider", "is_initial": True,
         "standard_days": 2, "allowed_next": ["enrolled"]},
        {"code": "enrolled", "name": "CES: Enrolled", "is_final": True, "referral_result": 1},
    ],
    "access_policy": {"provisioning_business_days": 3, "inactive_after_days": 30, "retraining_after_days": 90},
}


def _broken(tmp_path, change):
    pack = json.loads(json.dumps(GOOD))
    change(pack)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(pack, indent=2))
    return path


def _line_of(path, text, occurrence=1):
    hits = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line]
    return hits[occurrence - 1]


def test_the_good_example_pack_loads(tmp_path):
    path = _broken(tmp_path, lambda pack: None)
    assert "courses: 2 added" in load(path)


@pytest.mark.parametrize("change, marker, where, message", [
    (lambda p: p["ces_roles"][0]["required_courses"].append("nope"), '"nope"',
     "ces_roles[0].required_courses[1]", "unknown course “nope”"),
    (lambda p: p["ces_roles"][0]["program_types"].append("yacht"), '"yacht"',
     "ces_roles[0].program_types[1]", "unknown program type “yacht”"),
    (lambda p: p["required_forms"][0].update(course="missing-course"), '"missing-course"',
     "required_forms[0].course", "unknown course (a form tied to a course the pack does not have)"),
    (lambda p: p["courses"][0].update(also_satisfies=["ghost"]), '"ghost"',
     "courses[0].also_satisfies[0]", "unknown course “ghost”"),
    (lambda p: p["need_statuses"][0]["allowed_next"].append("matched"), '"matched"',
     "need_statuses[0].allowed_next[1]", "lists itself"),
    (lambda p: p["need_statuses"][0]["allowed_next"].append("nowhere"), '"nowhere"',
     "need_statuses[0].allowed_next[1]", "unknown need status “nowhere”"),
    (lambda p: p["need_statuses"].insert(1, {"code": "a", "name": "A", "allowed_next": ["b"]})
     or p["need_statuses"].insert(2, {"code": "b", "name": "B", "allowed_next": ["a", "enrolled"]}),
     '"allowed_next": [', "need_statuses[1].allowed_next", "lead back to each other: a → b → a"),
    (lambda p: p["access_policy"].update(provisioning_business_days=0), '"provisioning_business_days"',
     "access_policy.provisioning_business_days", "must be 1 or more, not 0"),
    (lambda p: p["access_policy"].update(inactive_after_days=-5), '"inactive_after_days"',
     "access_policy.inactive_after_days", "must be 1 or more, not -5"),
    (lambda p: p["access_policy"].update(retraining_after_days=30), '"retraining_after_days"',
     "access_policy.retraining_after_days", "must come later than going Inactive"),
    (lambda p: p["ces_roles"][0].update(access_rank=0), '"access_rank"',
     "ces_roles[0].access_rank", "must be 1 or more, not 0"),
    (lambda p: p["required_forms"][0].update(signers=["user", "case_worker"]), '"case_worker"',
     "required_forms[0].signers[1]", "unknown persona “case_worker”"),
    (lambda p: p["required_forms"][0].update(signers=[]), '"signers"',
     "required_forms[0].signers", "names no signer"),
    (lambda p: p["required_forms"][0].update(signers=["executive_director", "user"]), '"executive_director"',
     "required_forms[0].signers[0]", "the first signer is whoever files the form"),
    (lambda p: p["required_forms"][0].update(filed_by="janitor"), '"filed_by"',
     "required_forms[0].filed_by", "'janitor' is not one of"),
    (lambda p: p["required_forms"][0].update(signing="portal"), '"signing"',
     "required_forms[0].signing", "needs the “attestation”"),
    (lambda p: p.update(partnership_policy={"entry_business_days": 0}), '"entry_business_days"',
     "partnership_policy.entry_business_days", "must be 1 or more, not 0"),
    (lambda p: p.update(partnership_policy={"entry_business_days": 61}), '"entry_business_days"',
     "partnership_policy.entry_business_days", "61 is too large (at most 60)"),
    (lambda p: p.update(partnership_policy={"entry_business_days": "3"}), '"entry_business_days"',
     "partnership_policy.entry_business_days", "must be a whole number"),
    (lambda p: p.update(partnership_policy={"entry_days": 3}), '"entry_days"',
     "partnership_policy.entry_days", "unknown field “entry_days”"),
    # Longer than the column that keeps it: a mistake at its line, not a database error.
    (lambda p: p["need_statuses"][0].update(name="N" * 121), '"NNNN',
     "need_statuses[0].name", "is 121 characters long; at most 120"),
    (lambda p: p["courses"][0].update(title="T" * 151), '"TTTT',
     "courses[0].title", "is 151 characters long; at most 150"),
    (lambda p: p["ces_roles"][0].update(code="c" * 51), '"cccc',
     "ces_roles[0].code", "is 51 characters long; at most 50"),
])
def test_a_broken_pack_names_file_and_line_and_loads_nothing(tmp_path, change, marker, where, message):
    path = _broken(tmp_path, change)
    # The line of the marker: the second "matched" is the one in allowed_next; for the
    # cycle, the second allowed_next list (status "a").
    line = _line_of(path, marker, 2 if message in ("lists itself", "lead back to each other: a → b → a") else 1)
    before = counts()
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    errors = err.getvalue()
    assert f"{path}:{line}: {where}: " in errors and message in errors, errors
    assert counts() == before
    assert not Course.objects.filter(code="intro").exists()


def test_invalid_json_names_its_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "courses": [\n    {"code": "x",}\n  ]\n}\n')
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:3: not valid JSON" in err.getvalue()


def test_an_unknown_pack_name_lists_the_shipped_ones():
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", "atlantis", stdout=io.StringIO(), stderr=err)
    assert "la, mo-bos" in err.getvalue() or "agency-admin, la, mo-bos" in err.getvalue()


def test_a_broken_pack_exits_with_code_1(tmp_path):
    path = _broken(tmp_path, lambda p: p["access_policy"].update(provisioning_business_days=0))
    with pytest.raises(CommandError) as raised:
        call_command("load_policy", str(path), "--dry-run", stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 1


def test_seed_demo_loads_the_named_pack_first():
    out = io.StringIO()
    call_command("seed_demo", "--i-know-this-is-not-production", "--pack", "mo-bos", stdout=out)
    assert "Policy pack mo-bos: " in out.getvalue()
    assert Course.objects.get(code="data-standards").active and not Course.objects.get(code="hmis-10").active


def test_seed_demo_under_agency_admin_has_a_user_agreement_mid_signing_and_runs_twice():
    from training.models import FormSubmission, FormTemplate

    for _ in range(2):
        call_command("seed_demo", "--i-know-this-is-not-production", "--pack", "agency-admin", stdout=io.StringIO())
    midway = FormSubmission.objects.get(user__email="mid.signing@northside.example.org")
    assert (midway.form.code, midway.status, midway.version) == ("user-agreement", "signing", 1)
    assert [s.role for s in midway.signatures.all()] == ["user"]
    assert FormTemplate.objects.filter(form=midway.form).count() == 1


def test_a_signer_named_twice_is_refused_at_its_place(tmp_path):
    path = _broken(tmp_path, lambda p: p["required_forms"][0].update(signers=["user", "agency_administrator",
                                                                              "user"]))
    line = _line_of(path, '"user"', 2)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:{line}: required_forms[0].signers[2]: “user” signs once" in err.getvalue(), err.getvalue()


def test_a_duplicate_key_or_section_is_refused_at_its_line_and_loads_nothing(tmp_path):
    # Loaded silently, the last copy would win: a second access_policy section
    # dropped another pack's approval step and its requester.
    text = (PACK_DIR / "mo-bos.json").read_text()
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith('"access_policy"'))
    path = tmp_path / "twice.json"
    path.write_text("\n".join(lines[:1] + ['  "access_policy": {"provisioning_business_days": 9},']
                              + lines[1:]) + "\n")
    err = io.StringIO()
    before = counts()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:{first + 2}: access_policy: given twice (first on line 2)" in err.getvalue()
    assert counts() == before

    inner = tmp_path / "inner.json"
    inner.write_text('{\n  "access_policy": {\n    "provisioning_business_days": 3,\n'
                     '    "provisioning_business_days": 4\n  }\n}\n')
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(inner), "--dry-run", stdout=io.StringIO(), stderr=err)
    assert (f"{inner}:4: access_policy.provisioning_business_days: given twice (first on line 3)"
            in err.getvalue())


@pytest.mark.parametrize("name", ["la", "mo-bos", "agency-admin"])
def test_a_pack_s_description_names_its_own_provisioning_time(name):
    pack = json.loads((PACK_DIR / f"{name}.json").read_text())
    policy, description = pack.get("access_policy", {}), pack["description"]
    if policy.get("provisioning_hours"):
        assert f"within {policy['provisioning_hours']} hours" in description
        assert "business days" not in description
