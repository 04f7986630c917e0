"""Input no form or filter should accept: ids beyond any integer column, dates
far outside the CoC's records, and NUL bytes (which PostgreSQL refuses in
text). Each is a clean 200 with a form error, an ignored filter, or a 400
page, never a 500, and nothing is written."""

import pytest
from django.apps import apps

from hmis_access.forms import AccessRequestForm
from hmis_portal.core import inputs
from tests.factories import MembershipFactory, OrganizationFactory
from tests.referrals.factories import make_referral, matcher
from tests.training.factories import participating

pytestmark = pytest.mark.django_db
HUGE = str(10**30)


def row_counts():
    return {m._meta.label: m.objects.count() for m in apps.get_models()
            if m._meta.app_label in {"accounts", "onboarding", "training", "referrals", "partnerships", "core"}}


def test_the_bounds_helpers():
    assert inputs.parse_id("42") == 42 and inputs.parse_id(" 7 ") == 7
    assert [inputs.parse_id(v) for v in (HUGE, "0", "-3", "2147483648", "1e3", "", None, "\x00")] == [None] * 8
    assert inputs.parse_id(str(2**31 - 1)) == 2**31 - 1
    assert inputs.parse_date("2026-02-03").isoformat() == "2026-02-03"
    assert [inputs.parse_date(v) for v in ("9999-12-31", "0001-01-01", "1999-12-31", "2026-13-01", "")] == [None] * 5
    assert inputs.has_control_characters("a\x00b") and inputs.has_control_characters("\x1b[31m")
    assert not inputs.has_control_characters("Line one\r\n\tLine two — café")


@pytest.mark.parametrize("param", ["program", "status", "organization"])
def test_a_huge_id_in_a_referral_list_filter_is_refused_with_a_message(client, param):
    user = matcher()
    make_referral(actor=user)
    client.force_login(user)
    response = client.get(f"/referrals/list/?{param}={HUGE}")
    assert response.status_code == 200
    assert response.context["errors"] and not response.context["filters"].get(param)


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01", "from=9999-12-31&to=9999-12-31"])
def test_the_referral_export_ignores_dates_outside_any_record(client, query):
    user = matcher()
    make_referral(actor=user)
    client.force_login(user)
    response = client.get(f"/referrals/export.csv?{query}")
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 2


def test_ces_roles_with_a_huge_id_is_a_form_error_and_saves_nothing(client):
    organization = OrganizationFactory()
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(manager)
    before = row_counts()
    response = client.post(f"/onboarding/agencies/{organization.slug}/ces-roles/", {"roles": [HUGE]})
    assert response.status_code == 200
    assert response.context["form"].errors["roles"]
    assert row_counts() == before


@pytest.mark.parametrize("field", ["roles", "programs"])
def test_identifying_a_user_with_a_huge_id_is_a_form_error(field):
    organization = OrganizationFactory()
    participating(organization, "permanent-housing")
    form = AccessRequestForm({"full_name": "Robin", "email": "robin@example.org", "new_hmis_user": "new",
                              "roles": [HUGE] if field == "roles" else [], field: [HUGE]},
                             organization=organization)
    assert not form.is_valid()
    assert field in form.errors


def test_identifying_a_user_through_the_page_with_a_huge_id_saves_nothing(client):
    organization = OrganizationFactory()
    participating(organization, "permanent-housing")
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(manager)
    before = row_counts()
    response = client.post(f"/agencies/{organization.slug}/users/new/", {
        "full_name": "Robin", "email": "robin@example.org", "new_hmis_user": "new", "roles": [HUGE],
        "programs": [HUGE]})
    assert response.status_code in (200, 302, 403)
    assert row_counts() == before


# --- NUL bytes: a 400 page for any path, query or form value -----------------------------------------------------

@pytest.mark.parametrize("url", [
    "/hmis-account/calendar/%00.ics",
    "/referrals/list/?client=%00",
    "/referrals/list/?client=C1%00",
    "/referrals/timeliness/?agency=%00",
    "/training/sessions/?course=%00",
    "/training/certificates/upload/?course=%00",
])
def test_a_nul_byte_in_an_address_is_a_400_page(client, url):
    client.force_login(matcher())
    response = client.get(url)
    assert response.status_code == 400
    assert b"not allowed" in response.content


def test_a_nul_byte_in_a_reactivation_decline_reason_is_a_400_and_changes_nothing(client):
    client.force_login(MembershipFactory(persona="agency_administrator").user)
    before = row_counts()
    response = client.post("/hmis-accounts/reactivations/1/decline/", {"reason": "No longer\x00 employed"})
    assert response.status_code == 400
    assert row_counts() == before


def test_a_nul_byte_in_any_form_value_is_a_400_even_signed_out(client):
    response = client.post("/accounts/login/", {"username": "a@example.org\x00", "password": "x"})
    assert response.status_code == 400


def test_ordinary_text_still_passes(client):
    client.force_login(matcher())
    assert client.get("/referrals/list/?client=C%C3%A9-100").status_code == 200


def test_control_characters_in_onboarding_text_are_a_form_error():
    from onboarding.forms import AnswerForm, ProgramRequestForm

    assert AnswerForm({"answer": "Escape \x1b[31m red"}).errors["answer"] == [
        "Remove the invisible control characters from this text."]
    assert AnswerForm({"answer": "Line one\r\n\tLine two"}).is_valid()
    form = ProgramRequestForm({"name": "Safe\x07 Haven", "program_type": "1", "request_kind": "create"})
    assert "name" in form.errors
