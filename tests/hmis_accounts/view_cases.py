from tests.view_permissions import ViewCase

CASES = []

# --- HMIS account activity (seed 002) ---------------------------------------

def _hmis_account(organization, **fields):
    from tests.factories import HMISAccountFactory, MembershipFactory

    account = HMISAccountFactory(organization=organization, **fields)
    MembershipFactory(user=account.user, organization=organization, persona="staff")
    return account


def _inactive_account(organization):
    return {"pk": _hmis_account(organization, status="inactive").pk}


def _ready_request(organization):
    from hmis_accounts.models import ReactivationRequest

    account = _hmis_account(organization, status="inactive")
    request = ReactivationRequest.objects.create(
        account=account, user=account.user, organization=organization, requested_by=account.user, status="ready")
    return {"pk": request.pk}


def _retraining_account(organization):
    return {"pk": _hmis_account(organization, status="inactive", retraining_required=True).pk}


ALL_COC = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")

CASES += [
    # A person's own HMIS account: everyone signed in may open theirs (a
    # page saying there is none if they have none).
    ViewCase("hmis-account-status", personas="any", coc_groups=ALL_COC, agency_object=False),
    # Only with an HMIS account of one's own: the people this test signs in
    # have none, so every one of them gets 404 (with an account: test_hmis_reactivation,
    # test_calendar_feed).
    ViewCase("hmis-account-calendar", personas=(), coc_groups=(), agency_object=False),
    ViewCase("hmis-account-reminders", personas=(), coc_groups=(), agency_object=False, method="post",
             data=lambda kwargs: {"login_reminders": "on"}),
    ViewCase("hmis-account-calendar-reset", personas=(), coc_groups=(), agency_object=False, method="post"),
    # The agency's accounts and users at risk: its leads, not its staff, and
    # the CoC staff who look after HMIS accounts.
    ViewCase("agency-hmis-accounts", build=lambda organization: {"slug": organization.slug},
             personas=("executive_director", "program_manager", "agency_administrator"),
             coc_groups=("CoC provisioning", "CoC training", "CoC system admin")),
    # Reactivation is asked for by the Agency Administrator (or the user, tested in test_reactivation).
    ViewCase("hmis-account-request-reactivation", build=_inactive_account, personas=("agency_administrator",),
             method="post", data=lambda kwargs: {"note": "Back from leave"}),
    # CoC staff's overview and actions.
    ViewCase("hmis-accounts-dashboard", coc_groups=("CoC provisioning", "CoC training", "CoC system admin"),
             agency_object=False),
    ViewCase("reactivation-reactivate", build=_ready_request, coc_groups=("CoC provisioning", "CoC system admin"),
             method="post"),
    ViewCase("reactivation-decline", build=_ready_request, coc_groups=("CoC provisioning", "CoC system admin"),
             method="post", data=lambda kwargs: {"reason": "Left the agency"}),
    ViewCase("hmis-account-retraining-complete", build=_retraining_account,
             coc_groups=("CoC training", "CoC system admin"), method="post"),
]

CASES += [
    # The page of accounts pending, failed or drifted in the HMIS: those who provision.
    ViewCase("hmis-provisioning", coc_groups=("CoC provisioning", "CoC system admin"), agency_object=False),
    # "Test connection" to the HMIS: the system admins, whose configuration it is.
    ViewCase("hmis-provisioning-test", coc_groups=("CoC system admin",), agency_object=False, method="post"),
    # Retry of a failed command for a user the portal does not know (no agency): provisioning staff who
    # see every agency.
    ViewCase("hmis-provisioning-command-retry", build=lambda organization: {"pk": _unknown_user_command()},
             coc_groups=("CoC provisioning", "CoC system admin"), agency_object=False, method="post"),
]


def _unknown_user_command():
    from hmis_portal.core.models import ProvisioningCommand

    return ProvisioningCommand.objects.create(
        subject="hmis:9f1c", kind="deactivate", status=ProvisioningCommand.Status.FAILED, attempts=1,
        payload={"active": False, "remote_id": "9f1c", "user_name": "someone.unknown"}, last_error="HTTP 503").pk
