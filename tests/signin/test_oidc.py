"""Sign-in with the CoC's identity provider (OpenID Connect), against a real
provider: Node's `oidc-provider` in its own process (tests/oidc_provider.py).
The portal's side runs in Django's test client; the provider's pages are
fetched over HTTP as a browser would. The browser itself is in
test_oidc_browser.py."""

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY

from accounts.models import User
from accounts.signin.middleware import LAST_ACTIVITY, RULES, SIGNED_IN_AT
from hmis_portal.core.models import AuditEvent
from tests.factories import MembershipFactory, StaffFactory, UserFactory
from tests.oidc_provider import PORTAL, Browserless, OidcProvider

ACCOUNTS = {
    "agency.person@example.org": {},
    "Mixed.Case@Example.org": {},
    "mfa.staff@example.org": {"amr": ["pwd", "mfa"]},
    "plain.staff@example.org": {"amr": ["pwd"]},
    "unverified@example.org": {"email_verified": False},
    "directory.person@tenant.example.org": {"email_verified": None},
    "directory.person@elsewhere.example.org": {"email_verified": None},
    "stranger@example.org": {},
    "gone@example.org": {},
    "new.staff@coc.example.org": {"amr": ["mfa"]},
    "outsider@elsewhere.example.org": {},
}
REFUSED = "refused a sign-in through the identity provider"


@pytest.fixture(scope="module")
def provider():
    with OidcProvider(portal_url=PORTAL, accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture
def oidc(provider, settings, client):
    provider.configure(settings)
    return Browserless(client)


def signed_in_user(client):
    return client.session.get(SESSION_KEY)


def refusals():
    return list(AuditEvent.objects.filter(verb=REFUSED).values_list("reason", flat=True))


def _with_iss(callback: str, iss: str | None) -> str:
    """The provider's answer with its `iss` parameter changed (or removed)."""
    parts = urlsplit(callback)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.pop("iss", None)
    if iss is not None:
        query["iss"] = iss
    return f"{parts.path}?{urlencode(query)}"


def assert_refused(oidc, response, words):
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_user(oidc.client) is None
    # The sign-in page says why, once.
    page = oidc.client.get("/accounts/login/").content.decode()
    assert words in page, page
    assert words not in oidc.client.get("/accounts/login/").content.decode()


# --- Not configured ---------------------------------------------------------------------------


def test_unconfigured_there_is_no_button_and_no_provider_urls(client, settings, db):
    settings.OIDC_ISSUER = ""
    settings.OIDC_RP_CLIENT_ID = ""
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get("/sign-in/provider/").status_code == 404
    assert client.get("/sign-in/provider/callback/", {"code": "x", "state": "y"}).status_code == 404


def test_the_sign_in_page_offers_the_provider_beside_the_password_form(oidc, db):
    page = oidc.client.get("/accounts/login/?next=/training/").content.decode()
    assert "Sign in with Test Provider" in page
    assert 'href="/sign-in/provider/?next=/training/"' in page
    assert 'name="password"' in page


# --- Who may sign in ---------------------------------------------------------------------------


def test_an_invited_agency_person_signs_in_by_verified_email_and_lands_home(oidc, db):
    person = MembershipFactory(user=UserFactory(email="agency.person@example.org")).user
    start = oidc.start()
    authorization = start.authorization_url
    assert "code_challenge=" in authorization and "code_challenge_method=S256" in authorization  # PKCE
    response = oidc.callback(oidc.provider_sign_in(start, "agency.person@example.org"))
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_user(oidc.client) == str(person.pk)
    assert oidc.client.get("/").status_code == 200
    event = AuditEvent.objects.get(verb="signed in through the identity provider")
    assert event.actor == person and event.data["amr"] == []
    # The same session rules as a password sign-in: idle clock, session age, the CoC's policy.
    session = oidc.client.session
    assert session[RULES]["idle_minutes"] >= 5 and session[LAST_ACTIVITY] and session[SIGNED_IN_AT]


def test_the_email_matches_whatever_its_case(oidc, db):
    person = UserFactory(email="mixed.case@example.org")
    response = oidc.sign_in("Mixed.Case@Example.org", next_path="/agencies/")
    assert response["Location"] == "/agencies/"
    assert signed_in_user(oidc.client) == str(person.pk)


def test_an_unknown_email_is_refused_and_nobody_is_created(oidc, db):
    users = User.objects.count()
    response = oidc.sign_in("stranger@example.org")
    assert_refused(oidc, response, "No portal account uses stranger@example.org")
    assert User.objects.count() == users
    assert refusals() == ["no portal user has this email address"]
    # It counts toward the lockout of that address, as a wrong password does.
    assert AccessAttempt.objects.get(username="stranger@example.org").failures_since_start == 1


def test_an_unverified_email_is_refused(oidc, db):
    UserFactory(email="unverified@example.org")
    response = oidc.sign_in("unverified@example.org")
    assert_refused(oidc, response, "has not verified the email address unverified@example.org")
    assert refusals() == ["the provider has not verified the email address"]


def test_a_provider_that_does_not_say_is_trusted_for_the_coc_s_own_domains(oidc, settings, db):
    # Entra ID sends no email_verified: the CoC names the domains its directory vouches for.
    settings.OIDC_VERIFIED_EMAIL_DOMAINS = ["tenant.example.org"]
    person = UserFactory(email="directory.person@tenant.example.org")
    oidc.sign_in("directory.person@tenant.example.org")
    assert signed_in_user(oidc.client) == str(person.pk)


def test_a_provider_that_does_not_say_is_refused_for_another_domain(oidc, settings, db):
    settings.OIDC_VERIFIED_EMAIL_DOMAINS = ["tenant.example.org"]
    UserFactory(email="directory.person@elsewhere.example.org")
    response = oidc.sign_in("directory.person@elsewhere.example.org")
    assert_refused(oidc, response, "has not verified the email address directory.person@elsewhere.example.org")


def test_a_provider_that_says_not_verified_is_refused_even_for_a_trusted_domain(oidc, settings, db):
    settings.OIDC_VERIFIED_EMAIL_DOMAINS = ["example.org"]
    UserFactory(email="unverified@example.org")
    response = oidc.sign_in("unverified@example.org")
    assert_refused(oidc, response, "has not verified the email address unverified@example.org")


def test_a_deactivated_user_is_refused(oidc, db):
    gone = UserFactory(email="gone@example.org", is_active=False)
    response = oidc.sign_in("gone@example.org")
    assert_refused(oidc, response, "This portal account is deactivated")
    event = AuditEvent.objects.get(verb=REFUSED)
    assert event.object_id == str(gone.pk) and event.reason == "the portal user is deactivated"


def test_a_locked_out_user_is_refused(oidc, client, settings, db):
    person = UserFactory(email="agency.person@example.org")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": person.email, "password": "wrong password"})
    response = oidc.sign_in("agency.person@example.org")
    # The lockout's own page, as after one more wrong password.
    assert response.status_code == 429 and "Sign-in temporarily locked" in response.content.decode()
    assert signed_in_user(oidc.client) is None
    assert refusals() == ["the account is locked out after failed sign-ins"]


def test_refusals_add_up_to_the_lockout(oidc, settings, db):
    UserFactory(email="gone@example.org", is_active=False)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert oidc.sign_in("gone@example.org").status_code == 302
    assert oidc.sign_in("gone@example.org").status_code == 429
    assert AccessAttempt.objects.get(username="gone@example.org").failures_since_start == settings.AXES_FAILURE_LIMIT


def test_coc_staff_of_the_configured_domain_get_an_account_with_no_group(oidc, settings, db):
    settings.OIDC_CREATE_STAFF_DOMAIN = "coc.example.org"
    response = oidc.sign_in("new.staff@coc.example.org")
    assert response.status_code == 302 and response["Location"] == "/"
    created = User.objects.get(email="new.staff@coc.example.org")
    assert created.is_staff and not created.groups.exists() and not created.has_usable_password()
    assert AuditEvent.objects.filter(object_id=str(created.pk), verb__startswith="opened a CoC staff account").exists()
    # Another domain is still refused, and nothing is created for it.
    other = Browserless(oidc.client.__class__())
    assert_refused(other, other.sign_in("outsider@elsewhere.example.org"), "No portal account uses")
    assert not User.objects.filter(email="outsider@elsewhere.example.org").exists()


def test_the_page_after_sign_in_is_never_another_site(oidc, db):
    UserFactory(email="agency.person@example.org")
    response = oidc.sign_in("agency.person@example.org", next_path="https://attacker.example.org/")
    assert response.status_code == 302 and response["Location"] == "/"


# --- The second factor -------------------------------------------------------------------------


def test_the_providers_second_factor_counts_for_coc_staff(oidc, db):
    StaffFactory(email="mfa.staff@example.org", groups=["CES team"])
    response = oidc.sign_in("mfa.staff@example.org")
    assert response["Location"] == "/"
    home = oidc.client.get("/")
    assert home.status_code == 200  # not sent to the portal's own code
    assert AuditEvent.objects.get(verb="signed in through the identity provider").to_state == \
        "provider's second factor"


def test_without_the_providers_second_factor_coc_staff_are_asked_the_portals(oidc, db):
    from tests.two_factor import authenticator

    staff = StaffFactory(email="plain.staff@example.org", groups=["CES team"])
    authenticator(staff)
    oidc.sign_in("plain.staff@example.org")
    home = oidc.client.get("/")
    assert home.status_code == 302 and home["Location"].startswith("/two-factor/verify/")


def test_an_amr_the_coc_does_not_accept_is_not_a_second_factor(oidc, settings, db):
    settings.OIDC_SECOND_FACTOR_AMR = ["hwk"]
    StaffFactory(email="mfa.staff@example.org", groups=["CES team"])
    oidc.sign_in("mfa.staff@example.org")
    assert oidc.client.get("/")["Location"].startswith("/two-factor/setup/")


# --- Tokens that must not be taken -------------------------------------------------------------


def test_a_token_from_another_issuer_is_refused(provider, settings, client, db):
    # The portal expects another issuer than the one that signs the tokens.
    document = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=5).json()
    provider.configure(settings, OIDC_ISSUER=f"{provider.url}/another-tenant",
                       OIDC_OP_AUTHORIZATION_ENDPOINT=document["authorization_endpoint"],
                       OIDC_OP_TOKEN_ENDPOINT=document["token_endpoint"],
                       OIDC_OP_JWKS_ENDPOINT=document["jwks_uri"])
    UserFactory(email="agency.person@example.org")
    oidc = Browserless(client)
    # The answer's own `iss` would be refused first (test_an_answer_naming_another_issuer_…); without
    # it, and with no discovery document read, the ID token's issuer is what is left to catch it.
    callback = _with_iss(oidc.provider_sign_in(oidc.start(), "agency.person@example.org"), None)
    assert_refused(oidc, oidc.callback(callback), "did not work")
    assert refusals() == ["the ID token is from another issuer"]


def test_a_discovery_document_naming_another_issuer_is_refused(settings, client, db):
    users = User.objects.count()
    elsewhere = OidcProvider(portal_url=PORTAL, accounts=ACCOUNTS)
    elsewhere.issuer = elsewhere.url.replace("127.0.0.1", "localhost")
    with elsewhere:
        elsewhere.configure(settings, OIDC_ISSUER=elsewhere.url)  # the address, not the issuer it names
        response = client.get("/sign-in/provider/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "did not work" in client.get("/accounts/login/").content.decode()
    assert refusals() == ["the provider's discovery document names another issuer"]
    assert User.objects.count() == users


def test_a_token_for_another_client_is_refused(settings, client, db):
    UserFactory(email="agency.person@example.org")
    with OidcProvider(portal_url=PORTAL, accounts=ACCOUNTS, audience="another-application") as mixed_up:
        mixed_up.configure(settings)
        oidc = Browserless(client)
        assert_refused(oidc, oidc.sign_in("agency.person@example.org"), "did not work")
    assert refusals() == ["the ID token is for another client (audience)"]
    assert signed_in_user(client) is None


def test_an_expired_token_is_refused(settings, client, db):
    UserFactory(email="agency.person@example.org")
    # A provider whose clock is 15 minutes behind: its 5-minute ID tokens are already expired.
    with OidcProvider(portal_url=PORTAL, accounts=ACCOUNTS, clock_skew=-900) as slow:
        slow.configure(settings)
        oidc = Browserless(client)
        assert_refused(oidc, oidc.sign_in("agency.person@example.org"), "did not work")
    assert refusals() == ["the ID token has expired"]


def test_a_replayed_callback_is_refused(oidc, db):
    person = UserFactory(email="agency.person@example.org")
    callback = oidc.provider_sign_in(oidc.start(), "agency.person@example.org")
    assert oidc.callback(callback)["Location"] == "/"
    oidc.client.post("/accounts/logout/")
    # The same answer again, in the same browser: its state was used up.
    assert_refused(oidc, oidc.callback(callback), "already used")
    # And in another browser, which never started it.
    thief = Browserless(oidc.client.__class__())
    assert_refused(thief, thief.callback(callback), "already used")
    assert refusals() == ["the sign-in's state is unknown or already used (a replayed or stale link)"] * 2
    assert AuditEvent.objects.filter(verb="signed in through the identity provider", actor=person).count() == 1


def test_a_code_carried_into_another_sign_in_is_refused(oidc, provider, db):
    """The code of one sign-in, sent back with the state (so the nonce and
    PKCE verifier) of another the same browser started: refused."""
    UserFactory(email="agency.person@example.org")
    first = oidc.provider_sign_in(oidc.start(), "agency.person@example.org")
    second = oidc.start()  # another sign-in started: a new state, nonce and verifier
    state = parse_qs(urlsplit(second.authorization_url).query)["state"][0]
    code = parse_qs(urlsplit(first).query)["code"][0]
    response = oidc.callback("/sign-in/provider/callback/?" + urlencode(
        {"code": code, "state": state, "iss": provider.issuer}))
    assert_refused(oidc, response, "did not work")
    assert refusals()[0].startswith("the provider refused the code")


def test_an_id_token_replayed_into_another_sign_in_is_refused_by_its_nonce(oidc, provider, db):
    """A real ID token, taken from the provider for one sign-in, checked as
    the answer to another: its nonce is not that sign-in's."""
    from accounts.signin.oidc import ProviderBackend, Refusal
    from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET

    page = oidc.start()
    state = parse_qs(urlsplit(page.authorization_url).query)["state"][0]
    started = oidc.client.session["oidc_states"][state]
    code = parse_qs(urlsplit(oidc.provider_sign_in(page, "agency.person@example.org")).query)["code"][0]
    document = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=5).json()
    tokens = requests.post(document["token_endpoint"], timeout=5, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": started["code_verifier"],
        "redirect_uri": f"{PORTAL}/sign-in/provider/callback/",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()
    backend = ProviderBackend()
    assert backend.verify_token(tokens["id_token"], nonce=started["nonce"])["email"] == "agency.person@example.org"
    with pytest.raises(Refusal, match="nonce"):
        ProviderBackend().verify_token(tokens["id_token"], nonce="the nonce of another sign-in")


def test_the_provider_names_itself_in_its_answer_and_the_portal_checks_it(oidc, provider, db):
    """RFC 9207: the provider says who answered (`iss`), and promises it in its
    discovery document; the answer of the configured issuer is taken."""
    person = UserFactory(email="agency.person@example.org")
    document = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=5).json()
    assert document["authorization_response_iss_parameter_supported"] is True
    callback = oidc.provider_sign_in(oidc.start(), "agency.person@example.org")
    assert parse_qs(urlsplit(callback).query)["iss"] == [provider.issuer]
    assert oidc.callback(callback)["Location"] == "/"
    assert signed_in_user(oidc.client) == str(person.pk)


def test_an_answer_naming_another_issuer_is_refused_before_its_code_is_used(oidc, db):
    """A mix-up attack: an answer from another provider the browser was sent
    to comes back to this sign-in. Its code is never sent anywhere."""
    UserFactory(email="agency.person@example.org")
    callback = oidc.provider_sign_in(oidc.start(), "agency.person@example.org")
    response = oidc.callback(_with_iss(callback, "https://attacker.example.org"))
    assert_refused(oidc, response, "did not work")
    assert refusals() == ["the provider's answer names another issuer"]
    assert not AuditEvent.objects.filter(verb="signed in through the identity provider").exists()


def test_an_answer_without_the_issuer_it_promised_is_refused(oidc, db):
    UserFactory(email="agency.person@example.org")
    callback = oidc.provider_sign_in(oidc.start(), "agency.person@example.org")
    response = oidc.callback(_with_iss(callback, None))
    assert_refused(oidc, response, "did not work")
    assert refusals() == ["the provider's answer does not name its issuer, as its discovery document promises"]


def test_an_error_answer_naming_another_issuer_is_refused_as_such(oidc, db):
    oidc.start()
    state = next(iter(oidc.client.session["oidc_states"]))
    response = oidc.callback(f"/sign-in/provider/callback/?error=access_denied&state={state}"
                             f"&iss=https%3A%2F%2Fattacker.example.org")
    assert_refused(oidc, response, "did not work")
    assert refusals() == ["the provider's answer names another issuer"]


def test_an_error_from_the_provider_is_refused(oidc, provider, db):
    oidc.start()
    state = next(iter(oidc.client.session["oidc_states"]))
    response = oidc.callback(f"/sign-in/provider/callback/?" + urlencode(
        {"error": "access_denied", "state": state, "iss": provider.issuer}))
    assert_refused(oidc, response, "did not sign you in")
    assert refusals() == ["the provider answered access_denied"]


# --- Signing out -------------------------------------------------------------------------------


def test_signing_out_ends_the_providers_session_too(oidc, provider, db):
    UserFactory(email="agency.person@example.org")
    oidc.sign_in("agency.person@example.org")
    id_token = oidc.client.session["oidc_id_token"]
    response = oidc.client.post("/accounts/logout/")
    assert signed_in_user(oidc.client) is None
    target = urlsplit(response["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}" == provider.url
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == [f"{PORTAL}/accounts/login/"]
    # The provider's own confirmation, then back to the portal's sign-in page.
    confirm = oidc.http.get(response["Location"], timeout=10)
    form = confirm.text
    xsrf = form.split('name="xsrf" value="')[1].split('"')[0]
    action = form.split('action="')[1].split('"')[0]
    done = oidc.http.post(requests.compat.urljoin(confirm.url, action), data={"xsrf": xsrf, "logout": "yes"},
                          timeout=10, allow_redirects=False)
    while done.is_redirect and not done.headers["Location"].startswith(PORTAL):
        done = oidc.http.get(requests.compat.urljoin(done.url, done.headers["Location"]), timeout=10,
                             allow_redirects=False)
    assert done.headers["Location"].startswith(f"{PORTAL}/accounts/login/")
    # The provider asks who it is again: its session is over.
    assert 'name="login"' in oidc.start().text


def test_the_provider_is_asked_to_return_to_the_portals_public_address(oidc, db, settings):
    """The provider sends people back only to an address registered with it:
    the portal's public one, whatever Host the sign-out request named (an
    internal name behind the proxy, say)."""
    settings.ALLOWED_HOSTS = ["*"]
    UserFactory(email="agency.person@example.org")
    oidc.sign_in("agency.person@example.org")
    response = oidc.client.post("/accounts/logout/", HTTP_HOST="web-internal:8000")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["post_logout_redirect_uri"] == [f"{PORTAL}/accounts/login/"]


def test_a_password_sign_out_goes_nowhere_else(oidc, db):
    from tests.browser import PASSWORD

    person = UserFactory(email="agency.person@example.org")
    oidc.client.post("/accounts/login/", {"username": person.email, "password": PASSWORD})
    assert signed_in_user(oidc.client) == str(person.pk)
    assert oidc.client.post("/accounts/logout/")["Location"] == "/accounts/login/"


def test_the_idle_timeout_signs_out_a_provider_session(oidc, db):
    UserFactory(email="agency.person@example.org")
    oidc.sign_in("agency.person@example.org")
    session = oidc.client.session
    session[LAST_ACTIVITY] = time.time() - session[RULES]["idle_minutes"] * 60 - 5
    session.save()
    response = oidc.client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert signed_in_user(oidc.client) is None


def test_the_session_cap_signs_out_a_provider_session(oidc, settings, db):
    UserFactory(email="agency.person@example.org")
    oidc.sign_in("agency.person@example.org")
    session = oidc.client.session
    session[SIGNED_IN_AT] = time.time() - settings.SESSION_COOKIE_AGE - 5
    session.save()
    response = oidc.client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert signed_in_user(oidc.client) is None


# --- Configuration -----------------------------------------------------------------------------


def test_the_provider_is_configured_from_the_environment_with_the_secret_in_a_file(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    (tmp_path / "secret").write_text("client-secret-from-file\n")
    show = ("import django, os, json; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hmis_portal.settings'); "
            "from django.conf import settings as s; print(json.dumps([s.OIDC_ISSUER, s.OIDC_RP_CLIENT_ID, "
            "s.OIDC_RP_CLIENT_SECRET, s.OIDC_PROVIDER_NAME, s.OIDC_SECOND_FACTOR_AMR, s.OIDC_CREATE_STAFF_DOMAIN, "
            "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action']]))")
    environment = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "VIRTUAL_ENV"}}
    result = subprocess.run(
        [sys.executable, "-c", show], cwd=django_settings.BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**environment, "DEBUG": "true", "OIDC_ISSUER": "https://login.example.org/coc/v2.0/",
             "OIDC_CLIENT_ID": "portal", "OIDC_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
             "OIDC_PROVIDER_NAME": "Example CoC", "OIDC_SECOND_FACTOR_AMR": "mfa,hwk"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "https://login.example.org/coc/v2.0", "portal", "client-secret-from-file", "Example CoC", ["mfa", "hwk"], "",
        ["'self'", "https://login.example.org"]]
