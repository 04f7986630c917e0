"""Single-line fields (names, titles, phone numbers, ids) refuse line breaks
and invisible bidirectional or zero-width formatting characters with a clear
message, in every form, the admin and the services behind them, and nothing is
stored; a notification's subject is one line whatever it was built from."""

import datetime as dt
import importlib
import inspect

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse

from accounts import services as account_services
from accounts.models import Invitation, Organization
from hmis_access import services as access_services
from hmis_access.models import AccessRequest
from hmis_portal.core import inputs, outbox
from hmis_portal.core.models import Notification
from onboarding import services as onboarding_services
from onboarding.models import AgreementCopy, JoinRequest, Program, ProgramType
from partnerships.models import IntakeBatch
from referrals.models import Referral
from tests.factories import MembershipFactory, StaffFactory, UserFactory
from tests.onboarding.factories import PDF, AgreementFactory
from tests.partnerships.factories import active, person
from tests.referrals.factories import ProgramFactory, matcher
from tests.training.factories import blank_form, identify, participating, requester_of
from training import services as training_services
from training.models import FormSignature, RequiredForm

pytestmark = pytest.mark.django_db

BCC = "Org\r\nBcc: x@example.org"
HIDDEN = {
    "line feed": "Rae\nPoplar",
    "carriage return": "Rae\rPoplar",
    "line separator": "Rae\u2028Poplar",
    "right-to-left override": "Rae \u202eralpoP",
    "zero-width space": "Rae\u200bPoplar",
    "first strong isolate": "Rae \u2068Poplar\u2069",
    "left-to-right isolate": "\u2066Rae Poplar",
    "left-to-right mark": "Rae\u200ePoplar",
    "right-to-left mark": "Rae\u200fPoplar",
    "zero-width no-break space": "Rae\ufeffPoplar",
}
BAD = list(HIDDEN.values())
IDS = list(HIDDEN)


# --- the one validator --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", BAD, ids=IDS)
def test_the_validator_refuses_line_breaks_and_formatting_characters(value):
    with pytest.raises(ValidationError) as caught:
        inputs.validate_single_line(value)
    message = caught.value.messages[0]
    assert "one line" in message or "invisible formatting characters" in message


@pytest.mark.parametrize("value", ["Rae Poplar", "Café Ñandú — 555-0100 ext. 2", "شادی\u200cنیا", "O'Brien-Smith",
                                   "李小龍", ""])
def test_the_validator_accepts_ordinary_names_in_any_script(value):
    inputs.validate_single_line(value)


def test_check_single_line_names_each_field_for_a_service():
    with pytest.raises(ValidationError) as caught:
        inputs.check_single_line(name="Fine", phone="555\u200b0100", title=BCC)
    assert set(caught.value.error_dict) == {"phone", "title"}


def test_one_line_makes_a_built_text_one_line():
    assert inputs.one_line("Join request: Org\r\n\r\nBcc: x@example.org") == "Join request: Org Bcc: x@example.org"
    assert inputs.one_line("a\u202eb\u2028c") == "ab c"


# --- every form -----------------------------------------------------------------------------------------------------

def _form_classes():
    for config in apps.get_app_configs():
        if not config.name.split(".")[0] in {"accounts", "onboarding", "training", "hmis_access", "hmis_accounts",
                                             "referrals", "partnerships", "hmis_portal"}:
            continue
        for room in ("forms", "admin", "signin.forms"):
            try:
                module = importlib.import_module(f"{config.name}.{room}")
            except ModuleNotFoundError:
                continue
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, forms.BaseForm) and cls.__module__ == module.__name__:
                    yield cls


def test_every_form_with_text_fields_validates_them():
    """A form of the portal's own with a CharField adds the text validators
    (TextValidationMixin); ModelForms of the admin get them from PortalAdmin."""
    missing = []
    for cls in _form_classes():
        if issubclass(cls, forms.ModelForm) or cls.__name__ in ("CodeForm", "EmailAuthenticationForm"):
            # The admin's model forms: below. Signing in stores nothing: an
            # address or code that is not one is simply not recognized.
            continue
        if any(isinstance(f, forms.CharField) for f in cls.base_fields.values()) \
                and not issubclass(cls, inputs.TextValidationMixin):
            missing.append(f"{cls.__module__}.{cls.__name__}")
    assert not missing


def test_the_admin_refuses_a_line_break_in_an_agency_name():
    staff = StaffFactory(is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = staff
    model_admin = admin.site._registry[Organization]
    form_class = model_admin.get_form(request)
    form = form_class(data={"name": BCC})
    assert not form.is_valid()
    assert "one line" in " ".join(form.errors["name"])


# --- the Join page and the program request ---------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("organization_name", BCC), ("contact_name", "Rae \u202eralpoP"), ("phone", "555\u200b0100"),
    ("organization_name", "Poplar\u2066 Youth"),
])
def test_the_join_page_refuses_hidden_characters_and_stores_nothing(client, field, value):
    StaffFactory(groups=["CoC implementation"])
    data = {"organization_name": "Poplar Youth Services", "contact_name": "Rae Poplar",
            "contact_email": "rae@poplar.example.org", "phone": "", "note": "Line one\nline two is fine here"}
    response = client.post(reverse("onboarding:join"), {**data, field: value})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    page = response.content.decode()
    assert "one line" in page or "invisible formatting characters" in page
    assert not JoinRequest.objects.exists() and not Notification.objects.exists()


def test_join_request_create_refuses_a_line_break_itself():
    with pytest.raises(ValidationError) as caught:
        onboarding_services.join_request_create(organization_name=BCC, contact_name="Rae\u200bPoplar",
                                                contact_email="rae@poplar.example.org", phone="555\u202e0100")
    assert set(caught.value.error_dict) == {"organization_name", "contact_name", "phone"}
    assert not JoinRequest.objects.exists() and not Notification.objects.exists()


def test_accepting_refuses_a_hidden_program_manager_name():
    implementer = StaffFactory(groups=["CoC implementation"])
    join_request = onboarding_services.join_request_create(
        organization_name="Poplar Youth Services", contact_name="Rae Poplar", contact_email="rae@poplar.example.org")
    with pytest.raises(ValidationError) as caught:
        onboarding_services.join_request_accept(actor=implementer, join_request=join_request,
                                                program_manager_email="pm@poplar.example.org",
                                                program_manager_name="Pat\nBcc: x@example.org")
    assert "program_manager_name" in caught.value.error_dict
    assert not Organization.objects.filter(name="Poplar Youth Services").exists()
    assert not Invitation.objects.exists()


@pytest.fixture
def manager(organization):
    return MembershipFactory(organization=organization, persona="program_manager").user


def test_the_program_request_page_refuses_a_line_break_in_the_name(client, organization, manager):
    AgreementFactory(organization=organization)
    client.force_login(manager)
    shelter = ProgramType.objects.get(code="emergency-shelter")
    response = client.post(reverse("onboarding:program-request", args=[organization.slug]),
                           {"name": BCC, "program_type": shelter.pk, "request_kind": "create"})
    assert response.status_code == 200 and "name" in response.context["form"].errors
    with pytest.raises(ValidationError) as caught:
        onboarding_services.program_setup_request(actor=manager, organization=organization, name="Shelter",
                                                  program_type=shelter, request_kind="modify",
                                                  existing_hmis_program="Old\u202e Shelter")
    assert "existing_hmis_program" in caught.value.error_dict
    assert not Program.objects.exists() and not Notification.objects.exists()


def test_completing_setup_refuses_a_hidden_hmis_program_id(organization, manager):
    AgreementFactory(organization=organization)
    implementer = StaffFactory(groups=["CoC implementation"])
    program = onboarding_services.program_setup_request(
        actor=manager, organization=organization, name="Shelter",
        program_type=ProgramType.objects.get(code="emergency-shelter"))
    onboarding_services.program_setup_start(actor=implementer, program=program)
    with pytest.raises(ValidationError) as caught:
        onboarding_services.program_setup_complete(actor=implementer, program=program, hmis_program_id="12\u200b34")
    assert "hmis_program_id" in caught.value.error_dict
    program.refresh_from_db()
    assert program.hmis_program_id == "" and program.setup_status == "in_progress"


# --- signer names -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["signer_name", "signer_title"])
def test_the_agreement_upload_refuses_a_hidden_signer_name(client, organization, owner, field):
    client.force_login(owner)
    data = {"signer_name": "Dana Example", "signer_title": "Executive Director",
            "signed_on": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
            "document": SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf"),
            field: "Dana \u202eelpmaxE"}
    response = client.post(reverse("onboarding:agreement-upload", args=[organization.slug]), data)
    assert response.status_code == 200 and field in response.context["form"].errors
    with pytest.raises(ValidationError) as caught:
        onboarding_services.agreement_upload(
            actor=owner, organization=organization, upload=SimpleUploadedFile("a.pdf", PDF),
            signer_name="Dana\nExample", signer_title="Executive Director",
            signed_on=dt.date.today() - dt.timedelta(days=1))
    assert "signer_name" in caught.value.error_dict
    assert not AgreementCopy.objects.exists()


def test_a_portal_signature_refuses_a_line_break_in_the_typed_name(organization):
    participating(organization, "access-center")
    request = identify(organization, name="Robin Example", programs=list(organization.programs.all()))
    form = RequiredForm.objects.get(code="user-agreement")
    RequiredForm.objects.filter(pk=form.pk).update(signers=["user"], signing="either",
                                                   verify_portal_signatures=False)
    form.refresh_from_db()
    blank_form("user-agreement")
    for typed in ("Robin\nExample", "Robin\u200bExample"):
        with pytest.raises(ValidationError) as caught:
            training_services.form_sign(actor=request.user, form=form, owner=request.user, typed_name=typed,
                                        attested=True)
        assert "typed_name" in caught.value.error_dict
    assert not FormSignature.objects.exists()


# --- people's names, phone numbers and ids ------------------------------------------------------------------------

def test_identifying_a_user_refuses_a_hidden_name(client, organization):
    programs = participating(organization, "access-center")
    lead = requester_of(organization)
    client.force_login(lead)
    response = client.post(reverse("access-request-new", kwargs={"slug": organization.slug}), {
        "full_name": "Robin\u202e Example", "email": "robin@example.org", "new_hmis_user": "new",
        "roles": [], "programs": [programs["access-center"].pk]})
    assert response.status_code == 200 and "full_name" in response.context["form"].errors
    with pytest.raises(ValidationError) as caught:
        identify(organization, name="Robin\r\nExample", programs=[programs["access-center"]])
    assert "full_name" in caught.value.error_dict
    assert not AccessRequest.objects.exists()


def test_invitations_refuse_hidden_names(organization, manager):
    with pytest.raises(ValidationError) as caught:
        account_services.invitation_send(actor=manager, organization=organization, email="new@example.org",
                                         persona="staff", full_name="New\u200b Person")
    assert "full_name" in caught.value.error_dict
    assert not Invitation.objects.exists()


def test_accepting_an_invitation_refuses_a_hidden_name(organization, manager):
    account_services.invitation_send(actor=manager, organization=organization, email="new@example.org",
                                     persona="staff")
    invitation = Invitation.objects.get()
    body = Notification.objects.filter(to_email="new@example.org").latest("pk").body
    token = body.split("/invitations/")[1].split("/")[0]
    with pytest.raises(ValidationError) as caught:
        account_services.invitation_accept(token=token, full_name="New\nPerson", password="a long pass phrase 42")
    assert "full_name" in caught.value.error_dict
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    assert not type(manager).objects.filter(email="new@example.org").exists()


@pytest.mark.parametrize("field, value", [("contact_phone", "555\u202e0100"), ("contact_name", "Jamie\nDoe"),
                                          ("hmis_client_id", "C\u200b123")])
def test_a_referral_refuses_hidden_contact_details(field, value):
    program = ProgramFactory()
    data = {"hmis_client_id": "C123", "contact_name": "Jamie", "contact_phone": "555-0100", field: value}
    with pytest.raises(ValidationError) as caught:
        from referrals import services as referral_services

        referral_services.referral_create(actor=matcher(), program=program, **data)
    assert field in caught.value.error_dict
    assert not Referral.objects.exists()


def test_an_intake_batch_refuses_a_hidden_reference():
    from partnerships import services as partnership_services

    partnership = active()
    with pytest.raises(ValidationError) as caught:
        partnership_services.intake_batch_record(actor=person(partnership.agency), partnership_id=partnership.pk,
                                                 received_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
                                                 intake_count=2, reference="B-7\u202e")
    assert "reference" in caught.value.error_dict
    assert not IntakeBatch.objects.exists()


def test_granting_refuses_a_hidden_hmis_username():
    from tests.training.factories import finish_everything

    organization = MembershipFactory().organization
    participating(organization, "access-center")
    request = finish_everything(identify(organization, programs=list(organization.programs.all())),
                                StaffFactory(groups=["CoC training"]))
    with pytest.raises(ValidationError) as caught:
        access_services.access_request_grant(actor=StaffFactory(groups=["CoC provisioning"]),
                                             access_request_id=request.pk, hmis_username="robin\u200b",
                                             hmis_role="CES_Standard")
    assert "hmis_username" in caught.value.error_dict
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.READY


# --- subjects --------------------------------------------------------------------------------------------------------

def test_a_subject_is_stored_on_one_line_whatever_it_was_built_from():
    (message,) = outbox.notify(recipients=[UserFactory()], subject=f"Request to join: {BCC}", body="Hello")
    assert message.subject == "Request to join: Org Bcc: x@example.org"
    outbox.notify_many([outbox.Message(recipient=UserFactory(), subject="Due:\nnow", body="b", link="",
                                       dedupe_key="single-line-test")])
    assert Notification.objects.filter(subject="Due: now").exists()


def test_a_stored_subject_with_a_line_break_is_sent_once_on_one_line():
    (message,) = outbox.notify(recipients=["rae@example.org"], subject="Hello", body="Body")
    Notification.objects.filter(pk=message.pk).update(subject=f"Request to join: {BCC}")
    mail.outbox.clear()
    assert outbox.deliver(message.pk)
    message.refresh_from_db()
    assert message.status == Notification.Status.SENT
    (sent,) = mail.outbox
    assert sent.subject == "Request to join: Org Bcc: x@example.org" and sent.to == ["rae@example.org"]
    assert "bcc" not in {key.lower() for key in sent.extra_headers} and not sent.bcc
