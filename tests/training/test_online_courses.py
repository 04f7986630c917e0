"""A self-paced course's delivery is the pack's: an online course with its
link is taken online, so the checklist offers "Take the course online" with
the link instead of "Register for a session"."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hmis_access.checklist import build_checklist
from hmis_access.services import access_request_approve
from hmis_portal.policy_pack import PACK_DIR
from tests.factories import StaffFactory
from tests.training.factories import identify, participating
from training.models import Course

pytestmark = pytest.mark.django_db


def _load(name):
    call_command("load_policy", str(name), stdout=io.StringIO(), stderr=io.StringIO())


def _courses(request):
    return [item for item in build_checklist(request).items if item.kind == "course"]


@pytest.mark.parametrize("name", ["mo-bos", "agency-admin"])
def test_self_paced_courses_are_taken_online_at_the_pack_s_link(name, organization, client):
    _load(name)
    pack = {c["code"]: c for c in json.loads((PACK_DIR / f"{name}.json").read_text())["courses"]}
    assert all(c["delivery"] == "online" for c in pack.values())
    programs = participating(organization, "access-center")
    request = identify(organization, programs=[programs["access-center"]])
    if request.status == "awaiting_approval":
        access_request_approve(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk)
        request.refresh_from_db()
    items = _courses(request)
    assert items
    for item in items:
        link = pack[item.obj.code].get("link", "")
        if link:
            assert (item.action_label, item.action_url) == ("Take the course online", link)
            assert item.status == "Not completed yet (online, self-paced)"
        else:
            # A pack that names no address says where in words; nothing offers a session.
            assert (item.action_label, item.action_url) == ("", "")
            assert item.status == "Not completed yet: take it online (self-paced), then upload its certificate"
    client.force_login(request.user)
    page = client.get(reverse("my-access")).content.decode()
    assert "Register for a session" not in page and "online" in page
    if items[0].action_url:
        assert f'href="{items[0].action_url}"' in page and "Take the course online" in page


def test_la_classroom_and_webinar_courses_still_offer_sessions(organization):
    programs = participating(organization, "access-center")
    request = identify(organization, programs=[programs["access-center"]])
    assert {item.action_label for item in _courses(request)} == {"Register for a session"}


def test_la_s_online_course_has_its_link_on_a_freshly_migrated_database():
    pack = {c["code"]: c for c in json.loads((PACK_DIR / "la.json").read_text())["courses"]}
    course = Course.objects.get(code="hmis-basic-navigation")
    assert course.delivery == "online" and course.link == pack["hmis-basic-navigation"]["link"]


def test_a_link_that_is_not_a_web_address_is_refused_at_load(tmp_path):
    pack = json.loads((PACK_DIR / "mo-bos.json").read_text())
    pack["courses"][0]["link"] = "javascript:alert(1)"
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack, indent=2))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert "courses[0].link: must be a web address starting with https://" in err.getvalue()
