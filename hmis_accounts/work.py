"""Home-page tasks for HMIS account activity (seed 002). Reactivations to
process reach provisioning staff through the shared provisioning queue
(`hmis_access.work`)."""

import datetime as dt

from django.template.defaultfilters import pluralize

from accounts.access import agencies_where
from hmis_portal.core.addresses import address
from hmis_portal.core.calendar import local_date
from hmis_portal.core.dates import moment_text
from hmis_portal.core.work import OpenTask

from . import selectors
from hmis_access.models import AccessPolicy, HMISAccount


def open_tasks(user) -> list[OpenTask]:
    if not user.is_authenticated:
        return []
    tasks = []
    today = local_date()
    policy = AccessPolicy.current()
    # Counted in the database (one query for all the person's agencies); the
    # agency's HMIS accounts page lists them. Both asked with the other
    # to-dos' questions (core.work).
    organizations = agencies_where(user, selectors.AGENCY_ACCOUNT_VIEWERS)
    account, counts = yield (selectors.own_hmis_account_alone(user),
                             selectors.agency_account_counts(organizations, today=today) if organizations else {})
    if account is not None:
        activity = selectors.account_activity(account, policy, today)
        url = address("hmis-account-status")
        if account.status == HMISAccount.Status.INACTIVE:
            tasks.append(OpenTask("Your HMIS account is Inactive", url, section="HMIS account",
                                  detail="Request reactivation, or see where your request stands."))
        elif account.must_log_in_by is not None:
            before = account.must_log_in_before
            tasks.append(OpenTask("Log in to HMIS to keep your reactivated account", url, section="HMIS account",
                                  detail=f"Log in before {moment_text(before)}." if before else ""))
        elif activity.at_risk and activity.inactive_on:
            tasks.append(OpenTask("Log in to HMIS to stay Active", url, section="HMIS account",
                                  due=activity.inactive_on - dt.timedelta(days=1)))
    for organization in organizations:
        found = counts.get(organization.pk)
        if found and (found.at_risk or found.inactive):
            tasks.append(OpenTask(f"HMIS accounts at {organization}: {found.at_risk} at risk, {found.inactive} Inactive",
                                  address("agency-hmis-accounts", organization.slug),
                                  section="HMIS accounts"))
    tasks.extend(_provisioning_tasks(user))
    return tasks


def _provisioning_tasks(user) -> list[OpenTask]:
    """Provisioning staff: accounts the HMIS refused or never took, and users
    who can use the HMIS without the portal's access (the last check)."""
    from accounts.access import can_see_hmis_provisioning
    from hmis_portal.core import provisioning

    if not provisioning.enabled() or not can_see_hmis_provisioning(user):
        return []
    failed, dangerous = selectors.provisioning_attention(user)
    url = address("hmis-provisioning")
    tasks = []
    if failed:
        tasks.append(OpenTask(f"{failed} HMIS account{pluralize(failed)} failed to reach the HMIS", url,
                              section="HMIS provisioning",
                              detail="Read the reason, correct it in the HMIS or the portal, then Retry."))
    if dangerous:
        tasks.append(OpenTask(f"{dangerous} HMIS user{pluralize(dangerous)} active in the HMIS without portal access",
                              url, section="HMIS provisioning",
                              detail="Found by the last nightly check of the HMIS."))
    return tasks


def agency_links(organization, user) -> list:
    """The agency's page links to its HMIS accounts, for those that page
    serves (its view's own predicate)."""
    from django.urls import reverse

    from accounts.access import can_see_hmis_accounts
    from hmis_portal.core.registry import Link

    if not can_see_hmis_accounts(user, organization):
        return []
    return [Link("HMIS accounts and users at risk", reverse("agency-hmis-accounts", kwargs={"slug": organization.slug}))]
