"""State changes of people and agencies (STYLE §2): memberships and
invitations, each audited."""

import datetime as dt
import hashlib
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from hmis_portal.core import registry
from hmis_portal.core.audit import record_event
from hmis_portal.core.dates import day_text, moment_text
from hmis_portal.core.inputs import check_single_line
from hmis_portal.core.calendar import local_date
from hmis_portal.core.outbox import notify

from .access import (can_manage_invitation, invitation_refusal, invitee_refusal, membership_refusal,
                     membership_removal_refusal, require)
from .models import Invitation, Membership, Organization, Persona, User
from .signin.models import SignInPolicy


def membership_add(*, actor, organization: Organization, person, persona: str) -> Membership:
    """Give `person` a persona at an agency. CoC staff hold no agency
    memberships (they could otherwise countersign or grant for "their" agency
    without anyone noticing); an existing membership changes nothing."""
    require(not membership_refusal(actor, organization, person), membership_refusal(actor, organization, person))
    if persona not in Persona.values:
        raise ValidationError({"persona": "Choose one of the agency personas."})
    with transaction.atomic():
        existing = Membership.objects.filter(user=person, organization=organization, persona=persona).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                membership = Membership.objects.create(user=person, organization=organization, persona=persona)
        except IntegrityError:
            # Two saves at once: the constraint let the other one through.
            return Membership.objects.get(user=person, organization=organization, persona=persona)
        record_event(actor=actor, subject=organization, verb="added a person",
                     to_state=persona, reason=f"{person} as {Persona(persona).label}")
    return membership


def membership_remove(*, actor, membership: Membership) -> None:
    organization, person = membership.organization, membership.user
    refusal = membership_removal_refusal(actor, membership)
    require(not refusal, refusal)
    with transaction.atomic():
        # The person's memberships at the agency, locked together: two of them
        # removed at once by two people are decided one after the other, so the
        # second sees the first gone and the person's departure is not missed.
        list(Membership.objects.select_for_update().filter(user=person, organization=organization).order_by("pk")
             .values_list("pk", flat=True))
        deleted, _ = Membership.objects.filter(pk=membership.pk).delete()
        if deleted:
            record_event(actor=actor, subject=organization, verb="removed a person", from_state=membership.persona,
                         reason=f"{person} as {Persona(membership.persona).label}")
            if not Membership.objects.filter(user=person, organization=organization).exists():
                # The person has left the agency: later stages act in this
                # transaction (their HMIS account, and its deactivation queued
                # for the HMIS, commit or roll back with the removal).
                now = timezone.now()
                for provider in registry.membership_ended:
                    provider(organization=organization, person=person, actor=actor, at=now)


# --- invitations ---------------------------------------------------------------------------------

def token_hash(*, token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_link(invitation: Invitation, now) -> str:
    """A fresh token for `invitation` (only its hash is kept) and a new expiry."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = token_hash(token=token)
    invitation.sent_at = now
    invitation.expires_at = now + dt.timedelta(days=SignInPolicy.current().invitation_days)
    return token


def _send_invitation_email(invitation: Invitation, token: str) -> None:
    inviter = invitation.invited_by
    by = f"{inviter} ({inviter.email})" if inviter else "The CoC"
    notify(
        recipients=[invitation.email],
        subject=f"You are invited to {invitation.organization} in the HMIS portal",
        body=(f"{by} invited you to the HMIS portal as {invitation.get_persona_display()} at "
              f"{invitation.organization}.\n\nOpen the link below to choose your password and sign in. "
              f"It works once, until the end of {day_text(local_date(invitation.expires_at))}."),
        link=reverse("invitation-accept", args=[token]),
    )


def invitation_send(*, actor, organization: Organization, email: str, persona: str,
                    full_name: str = "") -> Invitation:
    """Invite `email` to `organization` as `persona`, by email. Inviting the
    same person to the same persona again resends the open invitation (a
    double click sends a new link, not a second invitation)."""
    check_single_line(email=email, full_name=full_name)
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    if persona not in Persona.values:
        raise ValidationError({"persona": "Choose one of the agency personas."})
    refusal = invitation_refusal(actor, organization, persona, email)
    if refusal.startswith("That address"):
        raise ValidationError({"email": refusal})
    require(not refusal, refusal)
    if Membership.objects.filter(organization=organization, persona=persona, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already {Persona(persona).label} at {organization}."})
    now = timezone.now()
    with transaction.atomic():
        existing = (Invitation.objects.select_for_update(of=("self",))
                    .filter(organization=organization, email=email, persona=persona,
                            accepted_at__isnull=True, revoked_at__isnull=True).first())
        if existing is not None:
            return _resend(actor, existing, now)
        invitation = Invitation(email=email, full_name=(full_name or "").strip(), organization=organization,
                                persona=persona, invited_by=actor, created_at=now)
        token = _new_link(invitation, now)
        invitation.full_clean()
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError:
            # Someone sent the same invitation at the same moment: theirs stands.
            return Invitation.objects.get(organization=organization, email=email, persona=persona,
                                          accepted_at__isnull=True, revoked_at__isnull=True)
        record_event(actor=actor, subject=organization, verb="invited a person", to_state=persona,
                     reason=f"{email} as {Persona(persona).label}")
        _send_invitation_email(invitation, token)
    invitation.token = token
    return invitation


def _resend(actor, invitation: Invitation, now) -> Invitation:
    token = _new_link(invitation, now)
    invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
    record_event(actor=actor, subject=invitation.organization, verb="resent an invitation",
                 to_state=invitation.persona, reason=f"{invitation.email} as {invitation.get_persona_display()}")
    _send_invitation_email(invitation, token)
    invitation.token = token
    return invitation


def _lock_invitation(invitation: Invitation) -> Invitation:
    return Invitation.objects.select_for_update(of=("self",)).get(pk=invitation.pk)


def invitation_resend(*, actor, invitation: Invitation) -> Invitation:
    """A new link (the old one stops working) with a new expiry, for an invitation not accepted or revoked."""
    require(can_manage_invitation(actor, invitation),
            "Only those who may invite this person to the agency resend the invitation.")
    with transaction.atomic():
        locked = _lock_invitation(invitation)
        if locked.accepted_at:
            raise ValidationError("This invitation was already accepted.")
        if locked.revoked_at:
            raise ValidationError("This invitation was revoked; send a new one.")
        if invitation.sent_at and locked.sent_at != invitation.sent_at:
            # Someone (or a double click) resent it since the caller read it:
            # a second new link would only kill the one just emailed.
            raise ValidationError(f"A new link was just emailed to {locked.email} ({moment_text(locked.sent_at)}); "
                                  "nothing changed.")
        return _resend(actor, locked, timezone.now())


def invitation_revoke(*, actor, invitation: Invitation) -> Invitation:
    """The link stops working. Revoking twice changes nothing the second time and says so."""
    require(can_manage_invitation(actor, invitation),
            "Only those who may invite this person to the agency revoke the invitation.")
    with transaction.atomic():
        locked = _lock_invitation(invitation)
        if locked.accepted_at:
            raise ValidationError("This invitation was already accepted; remove the person's role instead.")
        if locked.revoked_at:
            # Changes nothing, and says so: whoever clicked second did not revoke it.
            raise ValidationError(f"This invitation was already revoked ({moment_text(locked.revoked_at)}); its link "
                                  "no longer works.")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        record_event(actor=actor, subject=locked.organization, verb="revoked an invitation",
                     from_state=locked.persona, reason=f"{locked.email} as {locked.get_persona_display()}")
    return locked


def invitation_for_token(*, token: str) -> Invitation | None:
    return Invitation.objects.select_related("organization", "invited_by").filter(
        token_hash=token_hash(token=token or "")).first()


def invitation_refusal_for(*, invitation: Invitation | None, now=None) -> str:
    """Why the link cannot be used ('' when it can)."""
    if invitation is None:
        return "This invitation link is not valid. Ask whoever invited you to send it again."
    status = invitation.status_on(now or timezone.now())
    if status == Invitation.Status.ACCEPTED:
        return "This invitation was already used. Sign in with your email address and password."
    if status == Invitation.Status.REVOKED:
        return "This invitation was withdrawn. Ask the agency or the CoC if you should still join."
    if status == Invitation.Status.EXPIRED:
        return "This invitation link has expired. Ask whoever invited you to resend it."
    return ""


def invitation_accept(*, token: str, full_name: str, password: str, signed_in=None) -> User:
    """The invited person chooses a password (a new account) and joins the
    agency. The link works once: the invitation row is locked, so a second
    click, or two at once, find it accepted. Someone who already has an
    account accepts while signed in as that account and keeps their password."""
    check_single_line(full_name=full_name)
    with transaction.atomic():
        found = invitation_for_token(token=token)
        invitation = _lock_invitation(found) if found is not None else None
        refusal = invitation_refusal_for(invitation=invitation)
        if refusal:
            raise ValidationError(refusal)
        person = User.objects.filter(email__iexact=invitation.email).first()
        if invitee_refusal(person):
            raise ValidationError(invitee_refusal(person))
        if person is not None:
            if signed_in is None or signed_in.pk != person.pk:
                raise PermissionDenied("You already have an account: sign in with it, then open the link again.")
        else:
            full_name = (full_name or "").strip()
            if not full_name:
                raise ValidationError({"full_name": "Enter your name."})
            person = User(email=invitation.email, full_name=full_name[:150])
            validate_password(password, person)
            person.set_password(password)
            person.save()
            record_event(actor=person, subject=person, verb="joined by invitation",
                         reason=f"{invitation.get_persona_display()} at {invitation.organization}")
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = person
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        # Added with the inviter's authority, checked again now: someone who
        # may no longer add people cannot do so through an old invitation.
        inviter = invitation.invited_by
        if inviter is None or membership_refusal(inviter, invitation.organization, person):
            raise ValidationError("Whoever invited you may no longer add people to this agency. "
                                  "Ask the agency or the CoC for a new invitation.")
        membership_add(actor=inviter, organization=invitation.organization, person=person,
                       persona=invitation.persona)
        record_event(actor=person, subject=invitation.organization, verb="accepted an invitation",
                     to_state=invitation.persona, reason=f"{person.email} as {invitation.get_persona_display()}")
    return person
