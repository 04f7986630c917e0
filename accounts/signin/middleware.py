"""Four rules applied to every request, in this order in settings.MIDDLEWARE:

- SecurityHeadersMiddleware: device features off, and nothing shown to a
  signed-in person is kept by a browser or proxy cache (every page with
  personal data is behind sign-in).
- IdleTimeoutMiddleware: a session idle past the CoC's window, or older than
  SESSION_COOKIE_AGE however active, is signed out.
- VerifiedDeviceMiddleware (django-otp's, in its place): the authenticator
  that verified the session is read through `core.cached`, so a page does not
  read it again; any save or delete of a device (removed, unconfirmed, given to
  another person, a code used) makes the next request read it afresh.
- TwoFactorMiddleware: people who need a second factor reach nothing but
  sign-in, sign-out, password reset and the two-factor pages without it. This
  is the only gate: the admin is behind it too. A sign-in through the CoC's
  identity provider whose token asserted a second factor the CoC accepts has
  given it (oidc.py).

The API (/api/) is none of theirs: it authenticates each request by its API
key and never by the session (settings.REST_FRAMEWORK), so a session cookie
a caller happens to send neither signs it out nor sends it to the second
factor.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import middleware as auth_middleware
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.functional import LazyObject
from django_otp.middleware import OTPMiddleware
from accounts.access import has_two_factor_device, second_factor_always, two_factor_required

from hmis_portal.core import cached

from .models import SignInPolicy
from .oidc import second_factor_from_provider

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
LAST_ACTIVITY = "signin_last_activity"
SIGNED_IN_AT = "signin_started"
RULES = "signin_rules"
# Activity is recorded, and the policy re-read, at most this often: a page
# view then costs no session write and no policy query. A policy change
# reaches signed-in sessions within this time.
RECORD_EVERY_SECONDS = 60

# Views a person who still owes the second factor may use.
OPEN_BEFORE_SECOND_FACTOR = {
    "login", "logout", "admin:logout",
    "password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete",
    "two-factor-setup", "two-factor-verify", "signin-provider", "signin-provider-callback",
    "healthz",
}
API_PATH = "/api/"


def _signed_in(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated)


def _api(request) -> bool:
    return request.path_info.startswith(API_PATH)


def session_rules(user) -> dict:
    """What the session needs from the policy: the idle window, the warning,
    and whether this person owes a second factor (kept in the session, which
    lives on the server)."""
    policy = SignInPolicy.current()
    return {
        "idle_minutes": policy.idle_timeout_minutes,
        "warning_minutes": policy.idle_warning_minutes,
        "second_factor": two_factor_required(user, policy),
    }


def record_activity(request, now: float | None = None, user=None) -> None:
    request.session[LAST_ACTIVITY] = time.time() if now is None else now
    request.session[RULES] = session_rules(user or request.user)


def seconds_left(request) -> int:
    """Until the idle timeout, as the server counts it."""
    now = time.time()
    rules = request.session[RULES]
    return max(round(rules["idle_minutes"] * 60 - (now - request.session.get(LAST_ACTIVITY, now))), 0)


def _to(name, request):
    return redirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if _signed_in(request):
            add_never_cache_headers(response)
        return response


class IdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _signed_in(request) and not _api(request):
            now = time.time()
            session = request.session
            if RULES not in session:
                record_activity(request, now)
            rules = session[RULES]
            idle_for = now - session.get(LAST_ACTIVITY, now)
            if idle_for > rules["idle_minutes"] * 60:
                return self._sign_out(request, f"You were signed out after {rules['idle_minutes']} "
                                               "minutes without activity. Sign in again to continue.")
            if now - session.setdefault(SIGNED_IN_AT, now) > settings.SESSION_COOKIE_AGE:
                hours = round(settings.SESSION_COOKIE_AGE / 3600, 1)
                return self._sign_out(request, f"You were signed out: a session lasts at most {hours:g} hours. "
                                               "Sign in again to continue.")
            # Never backwards (a clock set back must not start the idle time early).
            if idle_for >= RECORD_EVERY_SECONDS:
                record_activity(request, now)
        return self.get_response(request)

    @staticmethod
    def _sign_out(request, message):
        next_path = request.get_full_path() if request.method == "GET" else ""
        logout(request)
        messages.info(request, message)
        url = reverse(settings.LOGIN_URL) + (f"?{urlencode({'next': next_path})}" if next_path else "")
        if request.headers.get("HX-Request"):
            # htmx would swap the sign-in page into part of the page.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


def device_cache_name(persistent_id: str) -> str:
    return f"otp-device:{persistent_id}"


class VerifiedDeviceMiddleware(OTPMiddleware):
    """django-otp's middleware, whose device is read once and kept in the
    cache under its persistent id until the device is saved or deleted
    (receivers.py). Its checks are django-otp's own: a device that is not
    the person's or not confirmed does not verify the session."""

    def _verify_user_sync(self, request, user):
        # The person AuthenticationMiddleware's lazy object reads (its own
        # get_user, kept on the request), not that lazy object: django-otp
        # wraps what it is given in a lazy object of its own, and every read of
        # request.user on a page (the menu asks a dozen) would pass through both.
        if isinstance(user, LazyObject):
            user = auth_middleware.get_user(request)
        return super()._verify_user_sync(request, user)

    def _device_from_persistent_id(self, persistent_id: str):
        persistent_id = self._normalize_persistent_id(persistent_id)
        return cached.read(device_cache_name(persistent_id), lambda: super(
            VerifiedDeviceMiddleware, self)._device_from_persistent_id(persistent_id))


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified() or _api(request):
            return None
        # The CoC's identity provider asked for a second factor the CoC accepts.
        if second_factor_from_provider(request):
            return None
        if request.resolver_match.view_name in OPEN_BEFORE_SECOND_FACTOR:
            return None
        # Staff always; others as the session's rules say (re-read each minute).
        if not (second_factor_always(user) or request.session.get(RULES, {}).get("second_factor")):
            return None
        return _to("two-factor-verify" if has_two_factor_device(user) else "two-factor-setup", request)
