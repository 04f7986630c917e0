"""Referral test helpers: programs, CES matchers, and referrals made through
the service (so every referral has its stored deadlines and first transition)."""

import factory

from onboarding.models import Program, ProgramType
from referrals import services
from referrals.models import NeedStatus
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Housing Program {n}")
    program_type = factory.LazyFunction(lambda: ProgramType.objects.get(code="permanent-housing"))
    # Referrals go only to confirmed programs of agencies whose agreement is executed.
    setup_status = Program.SetupStatus.CONFIRMED

    @factory.post_generation
    def executed_agreement(program, create, extracted, **kwargs):
        if create and extracted is not False and not program.organization.agreements.filter(
                status="executed").exists():
            from tests.onboarding.factories import executed_agreement as make_executed

            make_executed(program.organization)


def matcher():
    return StaffFactory(groups=["CES team"], full_name="Casey Matcher")


def provider_staff(organization, persona="staff", hmis_role="CES_Housing_Provider"):
    """A person of the provider agency who works its referrals: someone with
    granted, active HMIS access there in a role that works referrals, whatever
    their persona (`hmis_role=None`: the persona alone, which opens no client)."""
    user = MembershipFactory(organization=organization, persona=persona).user
    if hmis_role:
        HMISAccountFactory(user=user, organization=organization, hmis_role=hmis_role)
    return user


_counter = iter(range(10_000, 10_000_000))


def make_referral(program=None, *, actor=None, client_id=None, at=None, ce_enrollment_id=None, **contact):
    """A referral by the CES team; with `ce_enrollment_id`, the client's CE
    enrollment ID in the HMIS recorded on it as the CES team does."""
    program = program or ProgramFactory()
    actor = actor or matcher()
    referral = services.referral_create(
        actor=actor, program=program, hmis_client_id=client_id or f"C{next(_counter)}",
        contact_name=contact.get("contact_name", "Jamie"), contact_phone=contact.get("contact_phone", "555-0199"),
        contact_email=contact.get("contact_email", ""), contact_notes=contact.get("contact_notes", ""), at=at)
    if ce_enrollment_id is not None:
        referral = services.referral_record_ce_enrollment(
            actor=actor, referral_id=referral.pk, ce_enrollment_id=ce_enrollment_id)
    return referral


def status(code) -> NeedStatus:
    return NeedStatus.objects.get(code=code)
