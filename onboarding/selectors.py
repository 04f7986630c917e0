"""Reads for steps 1 and 2, narrowed to what a person may see (STYLE §2, §4).

`agreement_executed` and `confirmed_programs` are what later steps ask (seed
000: "Step 1 and Step 2 must be completed prior to Step 3").
"""

from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.access import restrict
from hmis_portal.core.calendar import local_date

from .models import (AgreementCopy, OrganizationAgreement, OrganizationCESRole, ParticipationStage, Program)


def executed_agreements(organization, *, on=None) -> QuerySet[OrganizationAgreement]:
    """The organization's agreements in force on `on` (today when omitted)."""
    day = on or local_date()
    return OrganizationAgreement.objects.filter(
        organization=organization, status=OrganizationAgreement.Status.EXECUTED
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=day))


def agreement_executed(organization, *, on=None) -> bool:
    """Step 1 is done: the organization has an executed, unexpired agreement."""
    return executed_agreements(organization, on=on).exists()


def confirmed_programs(organization) -> QuerySet[Program]:
    """Step 2's result: the organization's programs whose setup its Program Manager confirmed."""
    return Program.objects.filter(organization=organization, setup_status=Program.SetupStatus.CONFIRMED
                                  ).select_related("program_type")


def ces_roles(organization) -> QuerySet[OrganizationCESRole]:
    """The CES roles the organization plays (seed 000, step 2.3)."""
    return OrganizationCESRole.objects.filter(organization=organization).select_related("role")


def open_agreement(organization) -> OrganizationAgreement | None:
    """The agreement being worked on (draft, submitted or returned), if any."""
    return OrganizationAgreement.objects.filter(
        organization=organization, status__in=OrganizationAgreement.OPEN_STATUSES
    ).first()


def agreement_submitted(organization) -> bool:
    """A program setup request needs the agreement submitted at least (issue 3)."""
    return OrganizationAgreement.objects.filter(
        organization=organization,
        status__in=[OrganizationAgreement.Status.SUBMITTED, OrganizationAgreement.Status.EXECUTED],
    ).exists()


def stage_from(agreements, programs, *, today) -> ParticipationStage:
    """The derived stage from an organization's (prefetched) agreements and programs."""
    Status = OrganizationAgreement.Status
    in_force = any(a.in_force_on(today) for a in agreements)
    if in_force:
        if any(p.setup_status == Program.SetupStatus.CONFIRMED for p in programs):
            return ParticipationStage.PARTICIPATING
        if programs:
            return ParticipationStage.PROGRAM_SETUP
        return ParticipationStage.AGREEMENT_EXECUTED
    if any(a.status in (Status.SUBMITTED, Status.RETURNED) for a in agreements):
        return ParticipationStage.AGREEMENT_SUBMITTED
    if any(a.status == Status.EXPIRED or (a.status == Status.EXECUTED and not a.in_force_on(today))
           for a in agreements):
        return ParticipationStage.AGREEMENT_EXPIRED
    return ParticipationStage.NOT_STARTED


def participation_stage(organization, *, on=None) -> ParticipationStage:
    return stage_from(list(organization.agreements.all()), list(organization.programs.all()),
                      today=on or local_date())


def access_agreement(user, pk) -> OrganizationAgreement:
    """The agreement if `user` may see its organization's objects; 404 otherwise."""
    return get_object_or_404(
        restrict(OrganizationAgreement.objects.select_related("organization"), user), pk=pk
    )


def access_program(user, pk) -> Program:
    return get_object_or_404(
        restrict(Program.objects.select_related("organization", "program_type"), user), pk=pk
    )


def agreement_copies(agreement) -> QuerySet[AgreementCopy]:
    return agreement.copies.select_related("uploaded_by").order_by("-version")


def organization_agreements(organization) -> QuerySet[OrganizationAgreement]:
    return organization.agreements.select_related("countersigned_by").prefetch_related(
        Prefetch("copies", queryset=AgreementCopy.objects.order_by("-version")))
