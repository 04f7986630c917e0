"""Sign-in with the CoC's identity provider by OpenID Connect (authorization
code flow with PKCE), on mozilla-django-oidc: its request view keeps the
state, nonce and PKCE verifier in the session, its backend exchanges the code
and fetches the provider's keys. What the portal adds:

- the ID token is checked in full (signature, issuer, audience, expiry, nonce),
  not only its signature, and the answer's `iss` (RFC 9207) before its code is used;
- who may sign in is the portal's rule (`access.may_sign_in_with_provider`): a
  verified email address of an existing active user; nobody is created, except
  CoC staff of the configured domain (`access.provider_may_create_staff`);
- every refusal is a `Refusal`: a message on the sign-in page, an audit event,
  and a failure counted by the lockout (django-axes) for that address;
- the provider's second factor counts when its token says so
  (`access.provider_second_factor`), else the portal asks for its own code;
- signing out ends the provider's session too (RP-initiated logout).

Unconfigured (no OIDC_ISSUER or OIDC_CLIENT_ID), every view here is a 404.
"""

import logging

import jwt
import requests
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.hashers import make_password
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from accounts.access import (
    COC_STAFF_ACCOUNT,
    may_sign_in_with_provider,
    provider_may_create_staff,
    provider_second_factor,
)
from accounts.models import User
from hmis_portal.core.audit import record_event
from hmis_portal.core.site import portal_url

from .models import SignInPolicy

log = logging.getLogger(__name__)

# The session remembers that this sign-in came through the provider (for
# signing out there too) and whether the provider's second factor counted.
SIGNED_IN_WITH_PROVIDER = "signin_provider"
PROVIDER_SECOND_FACTOR = "signin_provider_second_factor"
ID_TOKEN = "oidc_id_token"
DISCOVERY_SECONDS = 3600
# The portal's session uses the password backend's `get_user` (an active user
# by id): the provider is asked once, at sign-in.
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_END_SESSION_ENDPOINT": "end_session_endpoint",
}


class Refusal(Exception):
    """A sign-in through the provider that is refused. `message` is for the
    person (it never says which check failed beyond what they can act on);
    `reason` is for the audit trail."""

    def __init__(self, reason: str, *, email: str = "", user=None,
                 message: str = "Signing in through your organization's account did not work. "
                                "Try again, or sign in with your portal password."):
        super().__init__(reason)
        self.reason = reason
        self.email = email
        self.user = user
        self.message = message


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME


# Given these three, the portal reads no discovery document (the others are then optional).
REQUIRED_ENDPOINTS = ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT")


def endpoint(setting: str) -> str:
    """An endpoint as configured, else as the issuer's discovery document says
    (kept for an hour). A document that names another issuer is refused: a
    token from it could never pass the issuer check anyway."""
    configured = getattr(settings, setting, "")
    if configured or all(getattr(settings, name, "") for name in REQUIRED_ENDPOINTS):
        return configured
    return discovery().get(ENDPOINTS[setting], "")


def discovery() -> dict:
    key = f"oidc-discovery:{settings.OIDC_ISSUER}"
    document = cache.get(key)
    if document is None:
        try:
            response = requests.get(f"{settings.OIDC_ISSUER}/.well-known/openid-configuration",
                                    timeout=settings.OIDC_TIMEOUT)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise Refusal(f"the provider's discovery document could not be read: {type(exc).__name__}",
                          message="Your organization's sign-in service did not answer. Try again in a few "
                                  "minutes, or sign in with your portal password.") from None
        if document.get("issuer", "").rstrip("/") != settings.OIDC_ISSUER:
            raise Refusal("the provider's discovery document names another issuer")
        cache.set(key, document, DISCOVERY_SECONDS)
    return document


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code exchange and key handling, with the portal's
    checks of the ID token and of who may sign in. Not an authentication
    backend of settings: only the callback view calls it."""

    def __init__(self, *args, **kwargs):  # noqa: D107 - the endpoints come from discovery, not settings
        self.OIDC_OP_TOKEN_ENDPOINT = endpoint("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = endpoint("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = endpoint("OIDC_OP_JWKS_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = User
        self.claims = {}

    def get_token(self, payload):
        try:
            return super().get_token(payload)
        except requests.RequestException as exc:
            raise Refusal(f"the provider refused the code: {_status(exc)}") from None

    def _verify_jws(self, payload, key):
        """The signature, and what mozilla-django-oidc leaves unchecked: the
        token is for this portal (aud, azp), from the configured issuer, and
        not expired."""
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.InvalidTokenError:
            raise Refusal("the ID token is not a signed token") from None
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise Refusal(f"the ID token is signed with {header.get('alg')!r}, not {self.OIDC_RP_SIGN_ALGO}")
        try:
            claims = jwt.decode(payload, key, algorithms=[self.OIDC_RP_SIGN_ALGO],
                                audience=self.OIDC_RP_CLIENT_ID, issuer=settings.OIDC_ISSUER,
                                leeway=settings.OIDC_CLOCK_LEEWAY,
                                options={"require": ["iss", "aud", "exp", "iat", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Refusal("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise Refusal("the ID token is for another client (audience)") from None
        except jwt.InvalidIssuerError:
            raise Refusal("the ID token is from another issuer") from None
        except jwt.InvalidTokenError as exc:
            raise Refusal(f"the ID token is not valid: {type(exc).__name__}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise Refusal("the ID token was issued to another client (azp)")
        return claims

    def retrieve_matching_jwk(self, token):
        try:
            return super().retrieve_matching_jwk(token)
        except (requests.RequestException, SuspiciousOperation) as exc:
            raise Refusal(f"the provider's signing key could not be found: {type(exc).__name__}") from None

    def verify_token(self, token, **kwargs):
        if not token:
            raise Refusal("the provider sent no ID token")
        try:
            self.claims = super().verify_token(token, **kwargs)
        except SuspiciousOperation:
            # mozilla-django-oidc's own nonce check: a token replayed into another sign-in.
            raise Refusal("the ID token's nonce is not this sign-in's") from None
        return self.claims

    def get_userinfo(self, access_token, id_token, payload):
        # The ID token says who this is (checked above); the userinfo
        # endpoint may add what it left out, never override it.
        info = {}
        if self.OIDC_OP_USER_ENDPOINT and access_token:
            try:
                info = super().get_userinfo(access_token, id_token, payload)
            except (requests.RequestException, ValueError, SuspiciousOperation):
                info = {}
            if info.get("sub") not in (None, payload["sub"]):
                raise Refusal("the userinfo answer is about another person")
        return {**info, **payload}

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        email = str(claims.get("email") or "").strip().lower()
        if not email:
            raise Refusal("the provider gave no email address",
                          message="Your organization's account has no email address the portal can match. "
                                  "Ask your CoC to sign you in with a portal password.")
        if not email_verified(claims, email):
            raise Refusal("the provider has not verified the email address", email=email,
                          message=f"{provider_name()} has not verified the email address {email}. "
                                  "Ask your administrator, or sign in with your portal password.")
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            if provider_may_create_staff(email, settings.OIDC_CREATE_STAFF_DOMAIN):
                return _create_staff(email=email, name=str(claims.get("name") or ""))
            raise Refusal("no portal user has this email address", email=email,
                          message=f"No portal account uses {email}. Ask your agency's administrator or the "
                                  "CoC for an invitation.")
        if not may_sign_in_with_provider(user):
            raise Refusal("the portal user is deactivated", email=email, user=user,
                          message="This portal account is deactivated. Ask the CoC if you need it again.")
        return user


def email_verified(claims: dict, email: str) -> bool:
    """The provider says it verified the address; or it says nothing (Microsoft
    Entra ID sends no email_verified) and the address is in a domain the CoC's
    directory vouches for (OIDC_VERIFIED_EMAIL_DOMAINS). A claim of false is
    never overruled."""
    said = claims.get("email_verified")
    if said is None:
        return email.rpartition("@")[2] in settings.OIDC_VERIFIED_EMAIL_DOMAINS
    return said is True or said == "true"


def _status(exc) -> str:
    response = getattr(exc, "response", None)
    return f"HTTP {response.status_code}" if response is not None else type(exc).__name__


def _create_staff(*, email: str, name: str) -> User:
    """A CoC staff account for the CoC's own domain: no group (so no work)
    until a system admin assigns one, no password (it signs in through the
    provider), audited. Two first sign-ins at once make one account."""
    with transaction.atomic():
        user, created = User.objects.get_or_create(email=email, defaults={
            "full_name": name or email.partition("@")[0], "password": make_password(None), **COC_STAFF_ACCOUNT})
        if created:
            record_event(actor=None, subject=user, to_state="no group",
                         verb="opened a CoC staff account by signing in through the identity provider",
                         reason=f"{settings.OIDC_CREATE_STAFF_DOMAIN} address")
    if not may_sign_in_with_provider(user):
        raise Refusal("the portal user is deactivated", email=email, user=user,
                      message="This portal account is deactivated. Ask the CoC if you need it again.")
    return user


def _require_enabled():
    if not enabled():
        raise Http404("Sign-in through an identity provider is not set up.")


class ProviderSignIn(OIDCAuthenticationRequestView):
    """Send the person to the provider (state, nonce and PKCE challenge kept
    in the session by mozilla-django-oidc)."""

    def __init__(self, *args, **kwargs):  # noqa: D107 - reads settings at request time, not import time
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        _require_enabled()
        try:
            self.OIDC_OP_AUTH_ENDPOINT = endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except Refusal as refusal:
            return refuse(request, refusal)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


def provider_callback(request):
    """Where the provider sends the person back with a code. The state must be
    one this browser's session started and not used before (each is deleted
    on first use, so a replayed callback is refused)."""
    _require_enabled()
    states = request.session.get("oidc_states") or {}
    state = request.GET.get("state", "")
    entry = states.pop(state, None) if state else None
    request.session["oidc_states"] = states
    try:
        check_answering_issuer(request.GET.get("iss"))
        if request.GET.get("error"):
            raise Refusal(f"the provider answered {request.GET['error'][:100]}",
                          message=f"{provider_name()} did not sign you in. Try again, or sign in with your "
                                  "portal password.")
        if entry is None:
            raise Refusal("the sign-in's state is unknown or already used (a replayed or stale link)",
                          message="That sign-in link has expired or was already used. Start again.")
        if not request.GET.get("code"):
            raise Refusal("the provider sent no code")
        backend = ProviderBackend()
        backend.request = request
        user = backend.authenticate(request, nonce=entry.get("nonce"), code_verifier=entry.get("code_verifier"))
        if user is None:
            raise Refusal("the provider's answer could not be read")
        if AxesProxyHandler.is_locked(request, credentials={settings.AXES_USERNAME_FORM_FIELD: user.email}):
            raise Refusal("the account is locked out after failed sign-ins", email=user.email, user=user,
                          message="Too many failed sign-ins: this account is locked for now. Try again later.")
    except Refusal as refusal:
        return refuse(request, refusal)
    return _signed_in(request, user, backend.claims)


def check_answering_issuer(iss: str | None) -> None:
    """RFC 9207: the answer names the provider that gave it. An answer from
    another provider (a mix-up attack, where the browser was sent to a second
    provider) is refused before its code is sent anywhere; so is an answer
    without the name when the provider's discovery document promises it. With
    every endpoint configured by hand no discovery document is read, and only
    a name that is there is checked."""
    if iss is not None:
        if iss.rstrip("/") != settings.OIDC_ISSUER:
            raise Refusal("the provider's answer names another issuer")
        return
    configured = all(getattr(settings, name, "") for name in REQUIRED_ENDPOINTS)
    if not configured and discovery().get("authorization_response_iss_parameter_supported") is True:
        raise Refusal("the provider's answer does not name its issuer, as its discovery document promises")


def _signed_in(request, user, claims):
    next_url = request.session.get("oidc_login_next") or reverse(settings.LOGIN_REDIRECT_URL)
    id_token = request.session.get(ID_TOKEN)
    second_factor = provider_second_factor(claims, amr_values=settings.OIDC_SECOND_FACTOR_AMR,
                                           acr_values=settings.OIDC_SECOND_FACTOR_ACR)
    # A new session (login() cycles the key); what the provider said goes in after.
    auth.login(request, user, backend=SESSION_BACKEND)
    request.session[SIGNED_IN_WITH_PROVIDER] = True
    request.session[ID_TOKEN] = id_token
    if second_factor:
        request.session[PROVIDER_SECOND_FACTOR] = user.pk
    record_event(actor=user, subject=user, verb="signed in through the identity provider",
                 to_state="provider's second factor" if second_factor else "",
                 data={"amr": claims.get("amr") or [], "acr": claims.get("acr") or ""})
    return redirect(next_url)


def refuse(request, refusal: Refusal):
    """Audit the refusal, count it toward the lockout of that address, and
    send the person back to the sign-in page with the reason."""
    log.warning("oidc sign-in refused: %s", refusal.reason)
    with transaction.atomic():
        record_event(actor=None, subject=refusal.user or SignInPolicy.current(),
                     verb="refused a sign-in through the identity provider",
                     reason=refusal.reason, data={"email": refusal.email})
    if refusal.email:
        user_login_failed.send(sender=__name__, request=request,
                               credentials={settings.AXES_USERNAME_FORM_FIELD: refusal.email})
    if request.user.is_authenticated:
        auth.logout(request)
    messages.error(request, refusal.message)
    return redirect(reverse("login"))


def second_factor_from_provider(request) -> bool:
    """Did this session's sign-in come with the provider's second factor?"""
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and request.session.get(PROVIDER_SECOND_FACTOR) == user.pk)


def end_session_url(request) -> str:
    """Where signing out goes when the sign-in came through the provider: its
    end_session_endpoint (RP-initiated logout), back to the portal's sign-in
    page. '' when the provider has none or the sign-in was by password."""
    if not (enabled() and request.session.get(SIGNED_IN_WITH_PROVIDER)):
        return ""
    try:
        url = endpoint("OIDC_OP_END_SESSION_ENDPOINT")
    except Refusal:
        return ""
    if not url:
        return ""
    # The provider returns only to an address registered with it, which is
    # the portal's public one, not whatever Host this request named.
    params = {"client_id": settings.OIDC_RP_CLIENT_ID,
              "post_logout_redirect_uri": portal_url(reverse(settings.LOGOUT_REDIRECT_URL))}
    if request.session.get(ID_TOKEN):
        params["id_token_hint"] = request.session[ID_TOKEN]
    return f"{url}?{urlencode(params)}"
