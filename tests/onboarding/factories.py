"""Onboarding objects in a given state, built directly (the services are what the tests exercise)."""

import datetime as dt

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from onboarding.models import AgreementCopy, OrganizationAgreement, Program, ProgramType
from tests.factories import OrganizationFactory

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


class AgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationAgreement

    organization = factory.SubFactory(OrganizationFactory)
    status = OrganizationAgreement.Status.SUBMITTED
    signer_name = "Dana Example"
    signer_title = "Executive Director"
    signed_on = factory.LazyFunction(lambda: dt.date.today() - dt.timedelta(days=2))
    submitted_at = factory.LazyFunction(timezone.now)


def add_copy(agreement, content=PDF, version=None):
    copy = AgreementCopy(agreement=agreement, version=version or agreement.copies.count() + 1,
                         signer_name=agreement.signer_name or "Dana Example",
                         signer_title=agreement.signer_title or "Executive Director",
                         signed_on=agreement.signed_on or dt.date.today(), size=len(content))
    copy._document_kind = "pdf"
    copy.document.save("x.pdf", ContentFile(content), save=False)
    copy.save()
    return copy


def executed_agreement(organization, **kwargs):
    return AgreementFactory(organization=organization, status=OrganizationAgreement.Status.EXECUTED,
                            countersigned_at=timezone.now(), **kwargs)


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Program {n}")
    program_type = factory.LazyFunction(lambda: ProgramType.objects.get(code="emergency-shelter"))
    setup_status = Program.SetupStatus.REQUESTED


    @factory.post_generation
    def submitted_agreement(program, create, extracted, **kwargs):
        """A setup request exists only once the agency's agreement is submitted
        (step 1 first): an agency with no agreement gets an executed one. Pass
        submitted_agreement=False to build a program without."""
        if not create or extracted is False:
            return
        if not program.organization.agreements.exists():
            executed_agreement(program.organization)
