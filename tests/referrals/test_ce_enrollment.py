"""The client's CE enrollment ID in the HMIS, recorded on a referral by the
CES team: what HUD's Event.csv reports the referral under (EnrollmentID, S32,
without `< > [ ] { }`)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from hmis_portal.core.models import AuditEvent
from referrals import services
from referrals.models import Referral
from tests.factories import OrganizationFactory
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff

pytestmark = pytest.mark.django_db

VERB = "recorded CE enrollment ID"


def _post(client, referral, value, version=None):
    return client.post(reverse("referrals:ce-enrollment", args=[referral.pk]),
                       {"ce_enrollment_id": value, "version": referral.version if version is None else version})


def _events(referral):
    return AuditEvent.objects.filter(object_id=str(referral.pk), verb__endswith="CE enrollment ID")


def test_the_ces_team_records_it_trimmed_and_audited_and_the_page_shows_it(client):
    ces = matcher()
    referral = make_referral(actor=ces)
    client.force_login(ces)
    page = client.get(referral.get_absolute_url()).content.decode()
    assert "CE enrollment in the HMIS" in page and reverse("referrals:ce-enrollment", args=[referral.pk]) in page
    response = _post(client, referral, "  CE-000123  ")
    assert response.status_code == 302 and response["Location"] == referral.get_absolute_url()
    referral.refresh_from_db()
    assert (referral.ce_enrollment_id, referral.version) == ("CE-000123", 2)
    (event,) = _events(referral)
    assert (event.verb, event.actor_id, event.from_state, event.to_state) == (VERB, ces.pk, "", "CE-000123")
    page = client.get(referral.get_absolute_url()).content.decode()
    assert "CE enrollment ID recorded: CE-000123." in page
    assert 'data-testid="ce-enrollment-id">CE-000123<' in page


def test_a_second_submit_of_the_same_id_changes_nothing_and_is_not_refused(client):
    ces = matcher()
    referral = make_referral(actor=ces)
    client.force_login(ces)
    assert _post(client, referral, "E-77", version=1).status_code == 302
    again = _post(client, referral, "E-77", version=1)  # the same page's form, sent twice
    assert again.status_code == 302
    page = client.get(referral.get_absolute_url()).content.decode()
    assert "changed since you opened" not in page
    referral.refresh_from_db()
    assert (referral.ce_enrollment_id, referral.version) == ("E-77", 2)
    assert _events(referral).count() == 1


def test_a_correction_is_audited_with_the_old_id(client):
    ces = matcher()
    referral = make_referral(actor=ces, ce_enrollment_id="E-1")
    client.force_login(ces)
    assert _post(client, referral, "E-2").status_code == 302
    event = _events(referral).latest("pk")
    assert (event.verb, event.from_state, event.to_state) == ("corrected CE enrollment ID", "E-1", "E-2")


@pytest.mark.parametrize("value, message", [
    ("", "This field is required."),
    ("   ", "This field is required."),
    ("E<1>", "may not contain &lt; &gt;: HUD&#x27;s files exclude &lt; &gt; [ ] { }"),
    ("E[1]{2}", "may not contain [ ] { }"),
    ("E" * 33, "is 33 characters long; HUD&#x27;s files hold at most 32."),
    ("E-1\nE-2", "one line"),
])
def test_a_bad_id_is_refused_beside_the_field_and_nothing_changes(client, value, message):
    ces = matcher()
    referral = make_referral(actor=ces, ce_enrollment_id="E-KEEP")
    client.force_login(ces)
    before = _events(referral).count()
    response = _post(client, referral, value)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page, page[page.find("ce-enrollment-heading"):][:3000]
    assert 'id="id_ce_enrollment_id"' in page and "is-invalid" in page
    referral.refresh_from_db()
    assert (referral.ce_enrollment_id, referral.version) == ("E-KEEP", 2)
    assert _events(referral).count() == before


def test_32_characters_are_accepted():
    referral = make_referral(ce_enrollment_id="x" * 32)
    assert Referral.objects.get(pk=referral.pk).ce_enrollment_id == "x" * 32


def test_a_stale_page_with_another_id_saves_nothing(client):
    ces = matcher()
    referral = make_referral(actor=ces)
    client.force_login(ces)
    assert _post(client, referral, "E-1", version=1).status_code == 302
    response = _post(client, referral, "E-9", version=1)
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.ce_enrollment_id == "E-1"
    assert "changed since you opened" in client.get(referral.get_absolute_url()).content.decode()


def test_the_provider_may_not_record_it_and_other_agencies_do_not_see_the_referral(client):
    program = ProgramFactory()
    referral = make_referral(program)
    staff = provider_staff(program.organization)
    client.force_login(staff)
    page = client.get(referral.get_absolute_url()).content.decode()
    assert reverse("referrals:ce-enrollment", args=[referral.pk]) not in page
    assert _post(client, referral, "E-1").status_code == 403
    client.force_login(provider_staff(OrganizationFactory()))
    assert _post(client, referral, "E-1").status_code == 404
    client.logout()
    assert _post(client, referral, "E-1").status_code == 302  # to sign in
    referral.refresh_from_db()
    assert referral.ce_enrollment_id == "" and not _events(referral).exists()
    with pytest.raises(PermissionDenied):
        services.referral_record_ce_enrollment(actor=staff, referral_id=referral.pk, ce_enrollment_id="E-1")


def test_the_service_refuses_a_bad_id_by_its_field():
    referral = make_referral()
    with pytest.raises(ValidationError) as refused:
        services.referral_record_ce_enrollment(actor=matcher(), referral_id=referral.pk, ce_enrollment_id="{E}")
    assert "ce_enrollment_id" in refused.value.message_dict
    referral.refresh_from_db()
    assert referral.ce_enrollment_id == ""
