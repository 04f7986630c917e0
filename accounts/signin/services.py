"""Changes to a person's second factor. Each is audited: who turned two-factor
sign-in on or off, and when recovery codes were replaced, matters after an
incident."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.access import two_factor_optional
from hmis_portal.core.audit import record_event

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def authenticator_start(*, actor) -> TOTPDevice:
    """The authenticator being set up: a new secret, unconfirmed until the
    person types a code from it. Reloading the page shows the same one."""
    device = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=actor, name=AUTHENTICATOR_NAME, confirmed=False)


def authenticator_confirm(*, actor, device_id: int, token: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the new authenticator with a code from it; it replaces any
    earlier one, and a fresh set of recovery codes replaces the old set."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device_id, user=actor, confirmed=False)
        if not device.verify_token(token.strip()):
            raise ValidationError("That code did not work. Enter the six digits your authenticator app shows now.")
        replaced = TOTPDevice.objects.filter(user=actor, confirmed=True).delete()[0]
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
        codes = _new_recovery_codes(actor)
        record_event(actor=actor, subject=actor, verb="set up two-factor sign-in",
                     to_state="authenticator replaced" if replaced else "on")
    return device, codes


def recovery_codes_renew(*, actor) -> list[str]:
    with transaction.atomic():
        if not TOTPDevice.objects.filter(user=actor, confirmed=True).exists():
            raise ValidationError("Set up an authenticator app first.")
        codes = _new_recovery_codes(actor)
        record_event(actor=actor, subject=actor, verb="replaced two-factor recovery codes")
    return codes


def two_factor_turn_off(*, actor) -> None:
    if not two_factor_optional(actor):
        raise ValidationError("Two-factor sign-in is required for your account.")
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=actor).delete()[0] + StaticDevice.objects.filter(user=actor).delete()[0]
        if removed:
            record_event(actor=actor, subject=actor, verb="turned off two-factor sign-in", to_state="off")


def _new_recovery_codes(user) -> list[str]:
    # One device holds the set; each code works once (django-otp deletes it).
    device, _ = StaticDevice.objects.select_for_update().get_or_create(
        user=user, defaults={"name": RECOVERY_NAME, "confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes
