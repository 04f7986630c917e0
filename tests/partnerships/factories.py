"""Data partnerships for tests, built through the services."""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from partnerships import services
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.onboarding.factories import executed_agreement

PDF = b"%PDF-1.4\n% test MOA\n%%EOF\n"


def pdf_upload():
    return SimpleUploadedFile("moa.pdf", PDF, content_type="application/pdf")


def person(organization, persona="staff"):
    return MembershipFactory(organization=organization, persona=persona).user


def enterer(organization):
    """A person of the partner agency who enters intakes into HMIS: granted, active HMIS access there."""
    from tests.factories import HMISAccountFactory

    user = person(organization)
    HMISAccountFactory(user=user, organization=organization)
    return user


def director(organization):
    return person(organization, "executive_director")


def hmis_agency(**kwargs):
    """An agency that participates in HMIS: its agreement is executed."""
    organization = OrganizationFactory(**kwargs)
    executed_agreement(organization)
    return organization


def coc_staff(group="CoC implementation"):
    return StaffFactory(groups=[group])


def propose(agency=None, partner=None, *, actor=None, at=None):
    agency = agency or OrganizationFactory()
    partner = partner or hmis_agency()
    return services.partnership_propose(actor=actor or director(agency), agency=agency, partner=partner,
                                        upload=pdf_upload(), moa_signed_on=dt.date(2026, 1, 5), at=at)


def active(agency=None, partner=None, *, at=None):
    partnership = propose(agency, partner, at=at)
    return services.partnership_accept(actor=director(partnership.partner), partnership_id=partnership.pk, at=at)


def batch(partnership, *, received_at=None, count=3, actor=None, at=None):
    received_at = received_at or timezone.now() - dt.timedelta(hours=1)
    return services.intake_batch_record(actor=actor or person(partnership.agency), partnership_id=partnership.pk,
                                        received_at=received_at, intake_count=count,
                                        at=at or max(received_at, timezone.now()))
