"""The HMIS login calendar's subscription link (`/hmis-account/calendar/<token>.ics`).

A calendar app polls it without signing in, so its token is the credential:
it serves only a live account of an active user, and its owner can replace it
(a link pasted somewhere it should not be) with one that works at once while
the old one stops at once.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.models import User
from hmis_portal.core.audit import record_event

from .models import CALENDAR_TOKEN_FORMAT, HMISAccount, new_calendar_token


def calendar_feed_account(token: str) -> HMISAccount | None:
    """The account whose login calendar `token` opens, or None: for a token
    that is not one we could have issued (checked before any query: a NUL byte
    is an error in PostgreSQL, not a miss), an Inactive account (nothing to
    remind of until it is reactivated) or a deactivated user."""
    if not CALENDAR_TOKEN_FORMAT.fullmatch(token):
        return None
    return (HMISAccount.objects.select_related("user")
            .filter(calendar_token=token, status=HMISAccount.Status.ACTIVE, user__is_active=True)
            .first())


def calendar_link_reset(*, actor: User, account: HMISAccount) -> HMISAccount:
    """Give the account a new calendar token; the old one is dead on commit."""
    if account.user_id != actor.pk:
        raise PermissionDenied("Only the account's user resets their calendar link.")
    with transaction.atomic():
        locked = HMISAccount.objects.select_for_update().get(pk=account.pk)
        if locked.calendar_token != account.calendar_token:
            # Reset since the caller read it (a double click): the link just
            # made is the one to keep, so it is not replaced again.
            raise ValidationError("Your calendar link was just reset; subscribe to the address shown below.")
        account = locked
        account.calendar_token = new_calendar_token()
        account.save(update_fields=["calendar_token"])
        # Never the token itself: the audit trail is read by CoC staff, and
        # the token is a credential.
        record_event(actor=actor, subject=account, verb="calendar link reset")
    return account
