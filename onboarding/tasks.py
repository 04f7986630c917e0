import datetime as dt

from celery import shared_task
from django.template.defaultfilters import pluralize

from hmis_portal.core.calendar import as_of, local_date

from . import services
from .models import OnboardingPolicy, OrganizationAgreement

# Bounded per run; a backlog is worked off by the next runs.
BATCH = 500
# An agency whose renewal is with the CoC, or done, is not reminded.
RENEWAL_SENT = [OrganizationAgreement.Status.SUBMITTED, OrganizationAgreement.Status.EXECUTED]


@shared_task(ignore_result=True)
def agreement_expiry_and_renewal(at: str | None = None) -> str:
    """Expire executed agreements past their last day, and remind agencies
    whose agreement ends in one of the policy's reminder days.

    Idempotent: expiring re-checks each row under lock, and each reminder has
    a dedupe key per agreement and reminder day, so a re-run sends nothing twice.
    """
    today = local_date(as_of(at))
    due = list(
        OrganizationAgreement.objects.filter(status=OrganizationAgreement.Status.EXECUTED, expires_on__lt=today)
        .order_by("pk").values_list("pk", flat=True)[:BATCH]
    )
    # One transaction for the batch: what follows in later stages (the HMIS
    # accounts of agencies left without an agreement) is written set-based.
    expired = services.agreements_expire(agreement_pks=due, today=today)

    reminded = 0
    days = OnboardingPolicy.current().reminder_days
    if days:
        # Each reminder day is a tier: an agreement ending within d days gets
        # the tier-d reminder once, so a day the job did not run is caught up
        # the next day rather than skipped.
        upcoming = (OrganizationAgreement.objects.filter(
            status=OrganizationAgreement.Status.EXECUTED, expires_on__gte=today,
            expires_on__lte=today + dt.timedelta(days=max(days)),
        ).exclude(renewals__status__in=RENEWAL_SENT).select_related("organization").order_by("pk")[:BATCH])
        for agreement in upcoming:
            days_left = (agreement.expires_on - today).days
            tier = min(d for d in days if d >= days_left)
            reminded += services.agreement_remind_renewal(agreement=agreement, days_left=days_left, tier=tier)
    return f"{expired} agreement{pluralize(expired)} expired, {reminded} renewal reminder{pluralize(reminded)} queued"
