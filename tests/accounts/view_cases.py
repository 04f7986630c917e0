from tests.view_permissions import ViewCase

CASES = [
    # Every member of an agency sees its people; CoC staff who look after
    # agencies see them too.
    ViewCase(
        "organization-detail",
        build=lambda organization: {"slug": organization.slug},
        personas="any",
        coc_groups=("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin"),
    ),
]


# --- access requests (issue 4) ---------------------------------------------

ACCESS_GROUPS = ("CoC training", "CoC provisioning", "CoC system admin")
QUEUE_GROUPS = ("CoC provisioning", "CoC system admin")


def _access_request(organization):
    from tests.training.factories import identify, participating

    programs = participating(organization, "access-center")
    request = identify(organization, programs=list(programs.values()))
    return {"slug": organization.slug, "pk": request.pk}


CASES += [
    # Everyone signed in has their own (possibly empty) access page.
    ViewCase("my-access", personas="any", coc_groups=(
        "CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin"), agency_object=False),
    ViewCase("agency-users", build=lambda o: {"slug": o.slug},
             personas=("executive_director", "program_manager", "agency_administrator"), coc_groups=ACCESS_GROUPS),
    # Program Managers and Agency Administrators identify users (seed 000, step 3.1).
    ViewCase("access-request-new", build=lambda o: {"slug": o.slug},
             personas=("program_manager", "agency_administrator")),
    ViewCase("access-request-new", build=lambda o: {"slug": o.slug},
             personas=("program_manager", "agency_administrator"), method="post"),
    ViewCase("access-request-detail", build=_access_request,
             personas=("executive_director", "program_manager", "agency_administrator"), coc_groups=ACCESS_GROUPS),
    ViewCase("provisioning-queue", coc_groups=QUEUE_GROUPS, agency_object=False),
    ViewCase("provisioning-sla", coc_groups=QUEUE_GROUPS, agency_object=False),
]
