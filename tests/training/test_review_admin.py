"""Certificates and forms are reviewed in the admin by the same two actions,
each calling its own service: verify, or return with the reason typed in."""

import datetime as dt

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import pdf
from training import services
from training.models import Certificate, Course, FormSubmission, RequiredForm, Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


def _certificate(organization):
    person = MembershipFactory(organization=organization).user
    return services.certificate_submit(actor=person, course=Course.objects.get(code="hmis-102"),
                                       completed_on=dt.date(2026, 1, 5), document=pdf())


def _form(organization):
    """A form the user signs alone, by upload: one submission, ready for review."""
    form = RequiredForm.objects.get(code="user-agreement")
    RequiredForm.objects.filter(pk=form.pk).update(signers=["user"], signing="upload")
    form.refresh_from_db()
    person = MembershipFactory(organization=organization).user
    return services.form_submit(actor=person, form=form, document=pdf())


def _act(client, model, action, pks, reason=""):
    url = reverse(f"admin:training_{model}_changelist")
    response = client.post(url, {"action": action, "_selected_action": pks, "reason": reason}, follow=True)
    return [str(m) for m in response.context["messages"]]


def test_certificates_are_verified_and_returned_from_their_list(client, organization, trainer):
    first, second = _certificate(organization), _certificate(organization)
    client.force_login(trainer)
    assert _act(client, "certificate", "verify", [first.pk]) == ["1 certificate verified."]
    assert _act(client, "certificate", "return_with_reason", [second.pk], "Wrong course") == [
        "1 certificate returned."]
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, second.status, second.reason) == (Review.VERIFIED, Review.RETURNED, "Wrong course")


def test_forms_are_verified_and_returned_from_their_list(client, organization, trainer):
    verified, returned = _form(organization), _form(organization)
    client.force_login(trainer)
    assert _act(client, "formsubmission", "verify", [verified.pk]) == ["1 form verified."]
    assert _act(client, "formsubmission", "return_with_reason", [returned.pk], "Unsigned page") == [
        "1 form returned."]
    verified.refresh_from_db(), returned.refresh_from_db()
    assert (verified.status, returned.status, returned.reason) == (Review.VERIFIED, Review.RETURNED,
                                                                  "Unsigned page")


def test_a_return_without_a_reason_is_refused_with_the_services_message(client, organization, trainer):
    certificate = _certificate(organization)
    client.force_login(trainer)
    (message,) = _act(client, "certificate", "return_with_reason", [certificate.pk])
    assert message.startswith(f"{certificate}: ")
    certificate.refresh_from_db()
    assert certificate.status == Review.SUBMITTED


def test_each_list_words_its_actions_for_what_it_reviews(trainer):
    request = RequestFactory().get("/")
    request.user = trainer
    certificates = admin.site._registry[Certificate].get_actions(request)
    forms = admin.site._registry[FormSubmission].get_actions(request)
    assert certificates["verify"][2] == "Verify (the course counts as complete)"
    assert certificates["return_with_reason"][2] == "Return with the reason given (e.g. wrong course)"
    assert (forms["verify"][2], forms["return_with_reason"][2]) == ("Verify", "Return with the reason given")
