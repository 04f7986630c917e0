"""Signing in with the second factor in tests.

The portal asks CoC staff (and agency users who turned it on, or whom the CoC's
policy requires) for a second factor on every page. Tests sign people in with
`client.force_login(user)`; the `client` fixture (tests/conftest.py) is a
`PortalClient`, whose `force_login` also completes the second factor the way
the verify page does (a confirmed authenticator, `django_otp.login`), so a
test about a page starts from a fully signed-in session. A test about the
second factor itself passes `verified=False`.
"""

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client, RequestFactory
from django_otp import login as otp_login
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.access import two_factor_required


def authenticator(user, name="Phone") -> TOTPDevice:
    """A confirmed authenticator app for `user`."""
    return TOTPDevice.objects.create(user=user, name=name, confirmed=True)


def current_code(device: TOTPDevice) -> str:
    """The six digits the person's authenticator app shows right now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def mark_verified(session: SessionBase, user, device) -> None:
    """Record in `session` that `user` passed the second factor with `device`."""
    request = RequestFactory().get("/")
    request.session = session
    request.user = user
    otp_login(request, device)
    session.save()


class PortalClient(Client):
    def force_login(self, user, backend=None, *, verified=True):
        super().force_login(user, backend)
        if verified and two_factor_required(user):
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or authenticator(user)
            mark_verified(self.session, user, device)


def signed_in_session(person) -> str:
    """The key of a session of `person`, signed in with the second factor
    where they need one: a test that asks many pages as the same people signs
    each in once and gives a client the key (`with_session`)."""
    client = PortalClient()
    client.force_login(person)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def with_session(client, session: str):
    """`client`, asking in the session `signed_in_session` made."""
    client.cookies[settings.SESSION_COOKIE_NAME] = session
    return client
