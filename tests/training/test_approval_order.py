"""Where the CoC's access policy has an approval step (seed 003: "After the
UAR is approved, the new End User will receive notification ... to submit
the User Policy form, complete the trainings"), a person's trainings and
forms wait for it: registering for a session, uploading a certificate and
filing or signing the person's form are refused, with the reason and
nothing written, until CoC staff approve a request for the person's access.
Packs without the step (LA, agency-admin) let people start at once."""

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from hmis_access.models import AccessPolicy, AccessRequest
from hmis_access.services import access_request_approve, access_request_decline
from hmis_portal.core.calendar import local_date
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.training.factories import identify, participating, pdf, session
from training import services
from training.models import Certificate, Course, FormSubmission, Registration, RequiredForm

pytestmark = pytest.mark.django_db

PACKS = ["la", "mo-bos", "agency-admin"]


def _load(name):
    call_command("load_policy", name, stdout=io.StringIO(), stderr=io.StringIO())


def _identify(organization):
    programs = participating(organization, "access-center")
    return identify(organization, programs=list(programs.values()))


def _course():
    return Course.objects.filter(active=True).order_by("code").first()


def _own_form():
    """A form of the pack that the user signs first, by upload, and that waits
    for no other item of the checklist (at most for approval)."""
    return next(f for f in RequiredForm.objects.filter(active=True).order_by("code")
                if f.signer_roles[0] == "user" and f.by_upload and set(f.waits_for) <= {"approval"})


def _training_rows(user):
    return (Registration.objects.filter(user=user).count(), Certificate.objects.filter(user=user).count(),
            FormSubmission.objects.filter(user=user).count())


def _try_everything(client, user):
    """Register, upload a certificate and upload the person's form through the pages."""
    course = _course()
    register = client.post(reverse("training:session-register", args=[session(course.code).pk]), follow=True)
    certificate = client.post(reverse("training:certificate-upload"), {
        "course": course.pk, "completed_on": local_date().isoformat(), "document": pdf()})
    form = client.post(reverse("training:form-upload", args=[_own_form().code]), {"document": pdf()}, follow=True)
    return register, certificate, form


@pytest.mark.parametrize("pack", PACKS)
def test_the_order_is_enforced_only_where_the_pack_has_the_approval_step(client, organization, pack):
    _load(pack)
    request = _identify(organization)
    user = request.user
    client.force_login(user)
    register, certificate, form = _try_everything(client, user)
    if not AccessPolicy.current().access_requests_need_approval:
        assert pack != "mo-bos"
        assert request.status == AccessRequest.Status.OPEN
        assert _training_rows(user) == (1, 1, 1)
        return
    assert pack == "mo-bos" and request.status == AccessRequest.Status.AWAITING_APPROVAL
    assert _training_rows(user) == (0, 0, 0)
    reason = "CoC staff have not approved your HMIS access request yet"
    assert reason in register.content.decode()
    assert certificate.status_code == 200 and reason in certificate.content.decode()
    assert reason in form.content.decode()


def test_mo_bos_services_refuse_work_before_approval_and_accept_it_after(organization):
    _load("mo-bos")
    request = _identify(organization)
    user = request.user
    course, form = _course(), _own_form()
    sitting = session(course.code)
    for attempt in (lambda: services.session_register(actor=user, session_id=sitting.pk),
                    lambda: services.certificate_submit(actor=user, course=course, completed_on=dt.date(2026, 1, 5),
                                                        document=pdf()),
                    lambda: services.form_submit(actor=user, form=form, document=pdf())):
        with pytest.raises(ValidationError, match="trainings and forms start after they do"):
            attempt()
    assert _training_rows(user) == (0, 0, 0)
    access_request_approve(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk)
    services.session_register(actor=user, session_id=sitting.pk)
    services.certificate_submit(actor=user, course=course, completed_on=dt.date(2026, 1, 5), document=pdf())
    services.form_submit(actor=user, form=form, document=pdf())
    assert _training_rows(user) == (1, 1, 1)


def test_mo_bos_after_approval_the_pages_accept_the_work(client, organization):
    _load("mo-bos")
    request = _identify(organization)
    access_request_approve(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk)
    client.force_login(request.user)
    register, certificate, form = _try_everything(client, request.user)
    assert certificate.status_code == 302
    assert _training_rows(request.user) == (1, 1, 1)


def test_mo_bos_without_any_approved_request_nothing_starts(organization):
    _load("mo-bos")
    person = MembershipFactory(organization=organization, persona="staff").user
    course = _course()
    with pytest.raises(ValidationError, match="Executive Director / Authorized Representative asks for it"):
        services.session_register(actor=person, session_id=session(course.code).pk)
    declined = _identify(organization)
    access_request_decline(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=declined.pk,
                           reason="Not on the staff list")
    with pytest.raises(ValidationError, match="declined"):
        services.certificate_submit(actor=declined.user, course=course, completed_on=dt.date(2026, 1, 5),
                                    document=pdf())
    assert _training_rows(person) == _training_rows(declined.user) == (0, 0, 0)


def test_mo_bos_an_hmis_user_retraining_is_past_approval(organization):
    _load("mo-bos")
    person = MembershipFactory(organization=organization, persona="staff").user
    HMISAccountFactory(user=person, organization=organization, status="inactive")
    services.session_register(actor=person, session_id=session(_course().code).pk)
    assert _training_rows(person) == (1, 0, 0)


def test_mo_bos_the_sessions_page_offers_no_register_button_before_approval(client, organization):
    _load("mo-bos")
    request = _identify(organization)
    sitting = session(_course().code)
    client.force_login(request.user)
    page = client.get(reverse("training:sessions")).content.decode()
    assert reverse("training:session-register", args=[sitting.pk]) not in page
    assert "CoC staff have not approved your HMIS access request yet" in page
    access_request_approve(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk)
    page = client.get(reverse("training:sessions")).content.decode()
    assert reverse("training:session-register", args=[sitting.pk]) in page
