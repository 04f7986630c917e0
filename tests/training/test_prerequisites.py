"""A pack says what each checklist item waits for (`waits_for`): other items
of the checklist, a course's completion, or CoC approval of the access
request. Work out of that order is refused with the reason and nothing
written; the checklist shows "Waits for: …" instead of the action; a name the
pack does not know is refused at load with the file and the key."""

import datetime as dt
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hmis_access.checklist import build_checklist
from hmis_access.services import access_request_approve
from hmis_portal.policy_pack import PACK_DIR
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import complete, identify, participating, pdf, session
from training import services
from training.models import Certificate, Course, FormSubmission, Registration, RequiredForm

pytestmark = pytest.mark.django_db


def _load(name):
    call_command("load_policy", str(name), stdout=io.StringIO(), stderr=io.StringIO())


def _request(organization, role_codes=("housing-navigator",)):
    programs = participating(organization, "access-center")
    return identify(organization, role_codes=role_codes, programs=[programs["access-center"]])


def _item(request, code):
    return next(i for i in build_checklist(request).items if i.obj is not None and i.obj.code == code)


def test_the_packs_say_what_waits_for_what():
    la = json.loads((PACK_DIR / "la.json").read_text())
    acknowledgement = next(f for f in la["required_forms"] if f["code"] == "hmis-10-acknowledgement")
    assert acknowledgement["waits_for"] == ["hmis-10"]
    admin = json.loads((PACK_DIR / "agency-admin.json").read_text())
    request_form = next(f for f in admin["required_forms"] if f["code"] == "user-request-form")
    assert set(request_form["waits_for"]) == {"user-agreement", *(c["code"] for c in admin["courses"])}
    mo_bos = json.loads((PACK_DIR / "mo-bos.json").read_text())
    assert all(row["waits_for"] == ["approval"] for row in mo_bos["courses"] + mo_bos["required_forms"])


def test_la_the_acknowledgement_waits_for_hmis_10(organization, client):
    request = _request(organization)
    user = request.user
    form = RequiredForm.objects.get(code="hmis-10-acknowledgement")
    assert form.waits_for == ["hmis-10"]
    item = _item(request, "hmis-10-acknowledgement")
    assert item.status == "Waits for: HMIS 10" and not item.action_url and not item.action_label
    assert item.waits == ["HMIS 10"]
    with pytest.raises(ValidationError, match="HMIS 10 Acknowledgement waits for HMIS 10"):
        services.form_submit(actor=user, form=form, document=pdf())
    assert not FormSubmission.objects.filter(user=user).exists()

    client.force_login(user)
    page = client.get(reverse("my-access")).content.decode()
    assert "Waits for: HMIS 10" in page
    assert reverse("training:form-upload", args=[form.code]) not in page
    response = client.post(reverse("training:form-upload", args=[form.code]), {"document": pdf()}, follow=True)
    assert "waits for HMIS 10" in response.content.decode()
    assert not FormSubmission.objects.filter(user=user).exists()

    complete(user, "hmis-10")
    assert _item(request, "hmis-10-acknowledgement").action_label == "Upload"
    services.form_submit(actor=user, form=form, document=pdf())
    assert FormSubmission.objects.filter(user=user).count() == 1


def test_agency_admin_the_user_request_form_waits_for_the_agreement_and_the_certificates(organization):
    _load("agency-admin")
    request = _request(organization)
    user = request.user
    aa = MembershipFactory(organization=organization, persona="agency_administrator").user
    form = RequiredForm.objects.get(code="user-request-form")
    item = _item(request, "user-request-form")
    required = [i.obj.title for i in build_checklist(request).items if i.kind == "course"]
    assert item.waits == [*required, "User Agreement"]
    assert item.status.startswith("Waits for: ") and not item.action_label
    with pytest.raises(ValidationError, match="User Request Form waits for .*User Agreement"):
        services.form_submit(actor=aa, form=form, document=pdf(), owner=user)
    assert not FormSubmission.objects.filter(user=user).exists()
    # A course the person's role does not require is not waited for.
    other = Course.objects.filter(active=True).exclude(title__in=required).first()
    assert other is not None and other.title not in item.waits


def test_mo_bos_trainings_and_forms_wait_for_approval_on_the_checklist(organization):
    _load("mo-bos")
    assert all(c.waits_for == ["approval"] for c in Course.objects.filter(active=True))
    request = _request(organization)
    courses = [i for i in build_checklist(request).items if i.kind in ("course", "form")]
    assert courses and all(i.status == "Waits for: CoC approval of the request" and not i.action_url
                           for i in courses)
    access_request_approve(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk)
    request.refresh_from_db()
    assert all(not i.status.startswith("Waits for") for i in build_checklist(request).items)


def test_a_course_may_wait_for_another_course(organization):
    Course.objects.filter(code="hmis-509-full").update(waits_for=["hmis-10"])
    request = _request(organization)
    user = request.user
    sitting = session("hmis-509-full")
    with pytest.raises(ValidationError, match="HMIS 509 full class waits for HMIS 10"):
        services.session_register(actor=user, session_id=sitting.pk)
    with pytest.raises(ValidationError, match="waits for HMIS 10"):
        services.certificate_submit(actor=user, course=Course.objects.get(code="hmis-509-full"),
                                    completed_on=dt.date(2026, 1, 5), document=pdf())
    assert not Registration.objects.filter(user=user).exists() and not Certificate.objects.filter(user=user).exists()
    # HMIS 10 itself waits for nothing.
    services.session_register(actor=user, session_id=session("hmis-10").pk)


def _pack_with(tmp_path, change):
    pack = json.loads((PACK_DIR / "la.json").read_text())
    change(pack)
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=2))
    return path


def test_an_unknown_name_in_waits_for_is_refused_with_file_and_key(tmp_path):
    path = _pack_with(tmp_path, lambda p: p["required_forms"][0].update(waits_for=["hmis-10", "hmis-99"]))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if '"hmis-99"' in text)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:{line}: required_forms[0].waits_for[1]: unknown item “hmis-99”" in err.getvalue(), err.getvalue()
    assert RequiredForm.objects.get(code="hmis-10-acknowledgement").waits_for == ["hmis-10"]


def test_an_item_waiting_for_itself_or_in_a_circle_is_refused(tmp_path):
    def circle(pack):
        pack["courses"][0]["waits_for"] = ["hmis-10-acknowledgement"]
    path = _pack_with(tmp_path, circle)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert "wait for each other: hmis-10 → hmis-10-acknowledgement → hmis-10" in err.getvalue(), err.getvalue()
