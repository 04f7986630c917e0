"""Loading another policy pack onto a database with live access requests
re-evaluates each in-flight request against its new checklist (a ready one
whose new checklist is unmet goes back to gathering requirements, audited),
and `--dry-run` lists the requests the switch would change."""

import io

import pytest
from django.core.management import call_command

from hmis_access.models import AccessRequest
from hmis_portal.core.audit import AuditEvent
from tests.factories import StaffFactory
from tests.training.factories import finish_everything, identify, participating

pytestmark = pytest.mark.django_db


def _load(name, *args):
    out = io.StringIO()
    call_command("load_policy", name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _ready(organization):
    programs = participating(organization, "access-center")
    request = finish_everything(identify(organization, programs=[programs["access-center"]]),
                                StaffFactory(groups=["CoC training"]))
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY and request.provisioning_due_at
    return request


def test_a_dry_run_lists_the_ready_request_the_switch_would_send_back_and_changes_nothing(organization):
    request = _ready(organization)
    out = _load("mo-bos", "--dry-run")
    assert "In-flight access requests: 1 of 1 would change" in out
    assert (f"  #{request.pk} {request.user} ({organization}): ready for provisioning → gathering requirements; "
            "waiting on: Security & Privacy Awareness") in out
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY


def test_a_switch_sends_a_ready_request_whose_new_checklist_is_unmet_back_audited(organization):
    request = _ready(organization)
    out = _load("mo-bos")
    assert "In-flight access requests: 1 of 1 changed" in out
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.OPEN and request.provisioning_due_at is None
    event = AuditEvent.objects.filter(object_id=str(request.pk), verb="no longer ready").get()
    assert "Security & Privacy Awareness" in event.reason
    # Back to LA, where everything is done: ready again.
    out = _load("la")
    assert "In-flight access requests: 1 of 1 changed" in out
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY


def test_loading_the_same_pack_again_changes_no_request(organization):
    request = _ready(organization)
    out = _load("la")
    assert "In-flight access requests: 0 of 1 changed" in out and out.splitlines()[-1] == "Nothing changed."
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY
