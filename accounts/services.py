"""State changes of people and agencies (STYLE §2): memberships, each audited."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from hmis_portal.core.audit import record_event

from .access import membership_refusal, require
from .models import Membership, Organization, Persona


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
    require(not membership_refusal(actor, organization, person) or person.is_staff,
            membership_refusal(actor, organization, person))
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(pk=membership.pk).delete()
        if deleted:
            record_event(actor=actor, subject=organization, verb="removed a person", from_state=membership.persona,
                         reason=f"{person} as {Persona(membership.persona).label}")
