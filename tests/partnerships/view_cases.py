from tests.partnerships.factories import active, batch, hmis_agency, propose
from tests.view_permissions import ViewCase

STAFF = ("CoC implementation", "CoC system admin")
LEADS = ("executive_director", "program_manager", "agency_administrator")


def _as_agency(organization):
    """`organization` is the agency that does not use HMIS; the partnership is active."""
    return {"pk": active(organization).pk}


def _as_partner(organization):
    """`organization` is the HMIS data partner; the proposal waits for its Executive Director."""
    from tests.onboarding.factories import executed_agreement

    executed_agreement(organization)
    return {"pk": propose(partner=organization).pk}


def _batch_at_partner(organization):
    from tests.onboarding.factories import executed_agreement

    executed_agreement(organization)
    return {"pk": batch(active(partner=organization)).pk}


CASES = [
    # Every partnership a person may see: any agency member (their agencies'), and the implementation team (all).
    ViewCase("partnerships:list", personas="any", coc_groups=STAFF, agency_object=False),
    # One agency's partnerships, either side.
    ViewCase("partnerships:agency", build=lambda o: {"slug": o.slug}, personas="any", coc_groups=STAFF),
    # The Executive Director signs the MOA and proposes (seed 003, step 3.2).
    ViewCase("partnerships:propose", build=lambda o: {"slug": o.slug}, personas=("executive_director",)),
    ViewCase("partnerships:propose", build=lambda o: {"slug": o.slug}, personas=("executive_director",),
             method="post", data=lambda kw: {"partner": str(hmis_agency().pk)}),
    # A partnership, its batches and timeliness: both agencies' people and the implementation team.
    ViewCase("partnerships:detail", build=_as_agency, personas="any", coc_groups=STAFF),
    ViewCase("partnerships:detail", build=_as_partner, personas="any", coc_groups=STAFF, id="partnerships:detail:partner"),
    # The signed MOA: the leads of either agency and the implementation team.
    ViewCase("partnerships:moa", build=_as_agency, personas=LEADS, coc_groups=STAFF),
    # The partner agency's Executive Director accepts or declines.
    ViewCase("partnerships:accept", build=_as_partner, personas=("executive_director",), method="post"),
    ViewCase("partnerships:decline", build=_as_partner, personas=("executive_director",), method="post",
             data=lambda kw: {"decline-reason": "We have no capacity this year."}),
    # Either agency's Executive Director or the implementation team ends it.
    ViewCase("partnerships:end", build=_as_agency, personas=("executive_director",), coc_groups=STAFF,
             method="post", data=lambda kw: {"end-reason": "The agency now uses HMIS itself."}),
    # The non-HMIS agency's people record a batch sent; the partner's people record it entered.
    ViewCase("partnerships:batch-new", build=_as_agency, personas="any", method="post",
             data=lambda kw: {"received_at": "2026-02-02T10:00", "intake_count": "2"}),
    ViewCase("partnerships:batch-entered", build=_batch_at_partner, personas="any", method="post",
             data=lambda kw: {"entered_at": "2026-02-02T10:00"}),
]
