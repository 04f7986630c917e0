"""The two-factor pages: the person's own overview, setting up an
authenticator (a QR code), the code asked after the password, and the ping
that keeps an idle session alive."""

import math
from base64 import b32encode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.access import has_two_factor_device, two_factor_optional, two_factor_required

from . import services
from .forms import CodeForm
from .middleware import record_activity
from .oidc import end_session_url, second_factor_from_provider


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


@login_required
def two_factor(request):
    user = request.user
    return render(request, "signin/two_factor.html", {
        "authenticator": TOTPDevice.objects.filter(user=user, confirmed=True).first(),
        "codes_left": StaticToken.objects.filter(device__user=user).count(),
        "required": two_factor_required(user),
        "optional": two_factor_optional(user),
    })


@login_required
def two_factor_setup(request):
    user = request.user
    if has_two_factor_device(user) and not user.is_verified():
        # A password alone must not be enough to add an authenticator.
        return redirect(f"{reverse('two-factor-verify')}?{request.GET.urlencode()}")
    device = services.authenticator_start(actor=user)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        try:
            device, codes = services.authenticator_confirm(actor=user, device_id=device.pk,
                                                           token=form.cleaned_data["token"])
        except ValidationError as exc:
            form.add_error("token", exc.messages[0])
        else:
            otp_login(request, device)
            record_activity(request)
            return render(request, "signin/recovery_codes.html", {"codes": codes, "next": _next(request)})
    return render(request, "signin/setup.html", {
        "form": form,
        "qr": segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2),
        "secret": b32encode(device.bin_key).decode(),
        "next": _next(request),
    })


@login_required
def two_factor_verify(request):
    user = request.user
    if user.is_verified() or second_factor_from_provider(request):
        return redirect(_next(request))
    if not has_two_factor_device(user):
        return redirect(f"{reverse('two-factor-setup')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST or None)
    if form.is_valid():
        wait = _throttled_seconds(user)
        device = _matching_device(user, form.cleaned_data["token"].strip().replace(" ", ""))
        if device:
            otp_login(request, device)
            return redirect(_next(request))
        if wait:
            # The code may well have been right: a throttled device refuses every code.
            form.add_error("token", f"Too many wrong codes in a row. Wait {wait} second{pluralize(wait)}, "
                                    "then enter the code your authenticator app shows then.")
        else:
            form.add_error("token", "That code did not work. Enter the code your authenticator app shows "
                                    "now, or one of your recovery codes.")
    return render(request, "signin/verify.html", {"form": form, "next": _next(request)})


def _throttled_seconds(user) -> int:
    """How long the person must wait before a code can be taken: each wrong
    code doubles the wait of the device it was tried on (django-otp). 0 when
    no device is waiting."""
    now = timezone.now()
    waits = [0]
    for device in devices_for_user(user, confirmed=True):
        allowed, data = device.verify_is_allowed()
        if not allowed and (data or {}).get("locked_until"):
            waits.append(math.ceil((data["locked_until"] - now).total_seconds()))
    return max(waits)


def _matching_device(user, token):
    # Each device throttles its own failures (django-otp), so guessing
    # slows down with every wrong code.
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if device.verify_token(token):
                return device
    return None


@login_required
@require_POST
def recovery_codes_renew(request):
    try:
        codes = services.recovery_codes_renew(actor=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("two-factor")
    return render(request, "signin/recovery_codes.html", {"codes": codes, "next": reverse("two-factor")})


@login_required
@require_POST
def two_factor_disable(request):
    try:
        services.two_factor_turn_off(actor=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        record_activity(request)
        messages.success(request, "Two-factor sign-in is off. You sign in with your password alone.")
    return redirect("two-factor")


@login_required
@require_POST
def stay_signed_in(request):
    """The idle-timeout warning's button: records the activity now (page views
    record it at most once a minute)."""
    record_activity(request)
    return HttpResponse(status=204)


class SignOut(LogoutView):
    """Signing out of the portal; after a sign-in through the CoC's identity
    provider it goes on to end the provider's session too, where the provider
    offers that (RP-initiated logout)."""

    def post(self, request, *args, **kwargs):
        provider_url = end_session_url(request)
        response = super().post(request, *args, **kwargs)
        return redirect(provider_url) if provider_url else response
