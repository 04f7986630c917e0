from tests.referrals.factories import ProgramFactory, make_referral, status
from tests.view_permissions import ViewCase

CES = ("CES team",)
# Client data: no persona alone; any member holding granted, active HMIS
# access at the agency in a role that works referrals (SPEC §4).
WORKERS = {"with_hmis_access": "any"}


def _referral(organization):
    return {"pk": make_referral(ProgramFactory(organization=organization)).pk}


def _returned_referral(organization):
    from referrals import services
    from tests.referrals.factories import matcher

    referral = make_referral(ProgramFactory(organization=organization))
    services.referral_change_status(actor=matcher(), referral_id=referral.pk, to_status=status("did-not-respond"))
    return {"pk": referral.pk}


CASES = [
    # The counts report and the timeliness chart (figures only): every member
    # of a housing provider (narrowed to their agency) and the CES team.
    ViewCase("referrals:counts", personas="any", coc_groups=CES, agency_object=False),
    ViewCase("referrals:timeliness", personas="any", coc_groups=CES, agency_object=False),
    # Client data: people with granted, active HMIS access at the agency with a
    # role that works referrals (tests/referrals/test_client_data_gate.py), and
    # the CES team; the agency's personas alone (Program Manager too) see counts.
    ViewCase("referrals:list", **WORKERS, coc_groups=CES, agency_object=False),
    # CES team only, across providers.
    ViewCase("referrals:overdue", coc_groups=CES, agency_object=False),
    ViewCase("referrals:providers", coc_groups=CES, agency_object=False),
    ViewCase("referrals:create", coc_groups=CES, agency_object=False),
    ViewCase("referrals:create", coc_groups=CES, agency_object=False, method="post",
             data=lambda kwargs: {"hmis_client_id": ""}),
    ViewCase("referrals:export", coc_groups=CES, agency_object=False),
    ViewCase("referrals:hud-events", coc_groups=CES, agency_object=False),
    ViewCase("referrals:hud-events-page", coc_groups=CES, agency_object=False),
    # One referral: those working it (the provider's staff, the CES team).
    ViewCase("referrals:detail", build=_referral, **WORKERS, coc_groups=CES),
    ViewCase("referrals:change-status", build=_referral, **WORKERS, coc_groups=CES, method="post",
             data=lambda kwargs: {"version": 1, "to_status": status("attempting-contact").pk}),
    # The move-in date and the transfer request are the provider's.
    ViewCase("referrals:move-in", build=_referral, **WORKERS, method="post",
             data=lambda kwargs: {"version": 1, "move_in_date": "2026-01-01"}),
    ViewCase("referrals:transfer", build=_referral, **WORKERS, method="post",
             data=lambda kwargs: {"version": 1, "reason": "Needs an accessible unit"}),
    # The client's CE enrollment ID in the HMIS is the CES team's to record.
    ViewCase("referrals:ce-enrollment", build=_referral, coc_groups=CES, method="post",
             data=lambda kwargs: {"version": 1, "ce_enrollment_id": "E-100"}),
    # Re-referring is the CES team's.
    ViewCase("referrals:rerefer", build=_returned_referral, coc_groups=CES),
    ViewCase("referrals:rerefer", build=_returned_referral, coc_groups=CES, method="post",
             data=lambda kwargs: {"version": 2}),
]
