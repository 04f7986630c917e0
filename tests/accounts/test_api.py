"""The API's framework: a key in `Authorization: Bearer` is the only way in
(401 without a working one), the view's scope (403 without it), the owner's
own rights (403), the rate limit per key (429 with Retry-After); the session
never authenticates it, and the sign-in middleware neither signs a caller
out nor asks it for a second factor. API_CASES is the API's permission
table: every URL under /api/v1/ has a row, as every page has a ViewCase."""

import datetime as dt

import pytest
import time_machine
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.apikeys.models import ApiKey
from accounts.apikeys.services import api_key_revoke, api_key_rotate
from tests.api_keys import bearer, make_key, post_json, system_admin
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.two_factor import authenticator

pytestmark = pytest.mark.django_db

PERSONAS = ("executive_director", "program_manager", "agency_administrator", "staff")
COC_GROUPS = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")
LOGINS = "api:hmis-logins"

# API URL name: (method, scope its key needs, CoC groups whose keys are allowed, personas whose keys are allowed)
EVERY_GROUP, EVERY_PERSONA = set(COC_GROUPS), set(PERSONAS)
API_CASES = {
    LOGINS: ("post", "hmis-logins:write", {"CoC provisioning", "CoC system admin"}, set()),
    # The read API's collections: every key with `read` lists (narrowed to
    # what its owner may see, perhaps nothing: tests/accounts/test_read_api.py);
    # referral counts are for provider agencies' people and the CES team.
    "api:agency-list": ("get", "read", EVERY_GROUP, EVERY_PERSONA),
    "api:program-list": ("get", "read", EVERY_GROUP, EVERY_PERSONA),
    "api:access-request-list": ("get", "read", EVERY_GROUP, EVERY_PERSONA),
    "api:hmis-account-list": ("get", "read", EVERY_GROUP, EVERY_PERSONA),
    "api:referral-count-list": ("get", "read", {"CES team"}, EVERY_PERSONA),
    "api:partnership-list": ("get", "read", EVERY_GROUP, EVERY_PERSONA),
}
PUBLIC = {"api:openapi"}
# Detail routes: an object the key's owner may not see is a 404, as on the
# pages (tests/accounts/test_read_api.py goes through each as each persona).
DETAIL_ROUTES = {"api:agency-detail", "api:program-detail", "api:access-request-detail",
                 "api:hmis-account-detail", "api:partnership-detail"}


def api_url_names():
    names = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif pattern.name:
                names.add(f"{namespace}{pattern.name}")

    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver) and pattern.namespace == "api":
            walk(pattern.url_patterns, "api:")
    return names


def test_every_api_url_has_a_row():
    assert api_url_names() == set(API_CASES) | PUBLIC | DETAIL_ROUTES


def _call(client, name, key):
    method, *_ = API_CASES[name]
    if method == "post":
        return post_json(client, reverse(name), {"logins": []}, key)
    return client.get(reverse(name), **bearer(key))


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_each_persona_s_and_group_s_key_reaches_only_what_its_owner_may(client, name):
    _, scope, groups, personas = API_CASES[name]
    organization = OrganizationFactory()
    for persona in PERSONAS:
        key = make_key(MembershipFactory(organization=organization, persona=persona).user, scope)
        response = _call(client, name, key)
        assert response.status_code == (200 if persona in personas else 403), (persona, response.content)
    for group in COC_GROUPS:
        key = make_key(StaffFactory(groups=[group]), scope)
        response = _call(client, name, key)
        assert response.status_code == (200 if group in groups else 403), (group, response.content)


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_a_key_without_the_scope_is_refused(client, name):
    _, scope, _, _ = API_CASES[name]
    other = "hmis-logins:write" if scope == "read" else "read"
    response = _call(client, name, make_key(system_admin(), other))
    assert response.status_code == 403
    assert scope in response.json()["detail"]


@pytest.fixture
def provisioner():
    return StaffFactory(groups=["CoC provisioning"])


def _post(client, key, **extra):
    return post_json(client, reverse(LOGINS), {"logins": []}, key, **extra)


def test_a_working_key_gets_in_and_its_use_is_recorded(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    response = _post(client, key)
    assert response.status_code == 200, response.content
    assert ApiKey.objects.get(owner=provisioner).last_used_at is not None
    # An API response of a person's data is never cached.
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer hmisp_00000000_wrong", "Bearer not-a-key",
                                    "Basic dXNlcjpwYXNz", "Bearer two parts"])
def test_no_key_or_a_wrong_one_is_401(client, provisioner, header):
    make_key(provisioner, "hmis-logins:write")
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = post_json(client, reverse(LOGINS), {"logins": []}, **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_401(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    assert _post(client, key).status_code == 200
    api_key_revoke(actor=system_admin(), key=ApiKey.objects.get(owner=provisioner))
    assert _post(client, key).status_code == 401


def test_a_rotated_key_stops_working_and_the_new_one_works(client, provisioner):
    old = make_key(provisioner, "hmis-logins:write")
    _, new = api_key_rotate(actor=system_admin(), key=ApiKey.objects.get(owner=provisioner))
    assert new != old
    assert _post(client, old).status_code == 401
    assert _post(client, new).status_code == 200


def test_a_deactivated_owner_s_key_is_401(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    provisioner.is_active = False
    provisioner.save(update_fields=["is_active"])
    assert _post(client, key).status_code == 401


def test_an_owner_who_left_the_group_is_403(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    provisioner.groups.clear()
    assert _post(client, key).status_code == 403


def test_each_key_is_rate_limited_with_retry_after(client, provisioner, settings):
    settings.API_KEY_REQUESTS_PER_MINUTE = 3
    key = make_key(provisioner, "hmis-logins:write")
    other = make_key(StaffFactory(groups=["CoC provisioning"]), "hmis-logins:write")
    with time_machine.travel(dt.datetime(2026, 12, 1, 16, 0, 15, tzinfo=dt.UTC), tick=False):
        assert [_post(client, key).status_code for _ in range(3)] == [200, 200, 200]
        refused = _post(client, key)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "45"
        # Another key has its own count.
        assert _post(client, other).status_code == 200
    with time_machine.travel(dt.datetime(2026, 12, 1, 16, 1, 1, tzinfo=dt.UTC), tick=False):
        assert _post(client, key).status_code == 200


def test_the_session_never_authenticates_the_api(client, provisioner):
    """A signed-in browser (second factor and all) cannot be made to post to
    the API: no CSRF question arises, as no cookie is ever accepted."""
    authenticator(provisioner)
    client.force_login(provisioner)
    assert _post(client, None).status_code == 401
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(provisioner)
    assert _post(csrf_client, None).status_code == 401


def test_a_bearer_request_with_a_session_that_owes_a_second_factor_is_not_redirected(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    client.force_login(provisioner, verified=False)
    response = _post(client, key)
    assert response.status_code == 200, response.get("Location")
    # The session still owes its second factor for the pages.
    assert client.get(reverse("home")).status_code == 302


def test_an_idle_session_does_not_sign_out_a_bearer_request(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    client.force_login(provisioner)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=7)):
        response = _post(client, key)
    assert response.status_code == 200, response.get("Location")


def test_bearer_requests_pass_the_security_headers(client, provisioner):
    key = make_key(provisioner, "hmis-logins:write")
    response = _post(client, key)
    assert response.status_code == 200
    assert response["Permissions-Policy"]
    assert "Content-Security-Policy" in response


def test_the_schema_is_served_and_names_the_bearer_scheme(client):
    response = client.get(reverse("api:openapi"))
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        **schema["components"]["securitySchemes"]["apiKey"], "type": "http", "scheme": "bearer"}
    operation = schema["paths"]["/api/v1/hmis-logins/"]["post"]
    assert operation["security"] == [{"apiKey": []}]
    assert {"200", "400", "401", "403", "413", "429"} <= set(operation["responses"])
    assert reverse("api:openapi") == "/api/v1/openapi.json"
