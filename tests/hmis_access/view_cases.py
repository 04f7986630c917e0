from tests.view_permissions import ViewCase

CASES = []


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


# --- the CoC's approval of new requests (seed 003) ----------------------------

def _awaiting_request(organization):
    from hmis_access.models import AccessRequest

    kwargs = _access_request(organization)
    AccessRequest.objects.filter(pk=kwargs["pk"]).update(status=AccessRequest.Status.AWAITING_APPROVAL)
    return {"pk": kwargs["pk"]}


CASES += [
    # Provisioning staff and system admins approve or decline; agency people
    # of the request's agency get 403, of another agency 404.
    ViewCase("access-approvals", coc_groups=QUEUE_GROUPS, agency_object=False),
    ViewCase("access-request-approve", build=_awaiting_request, coc_groups=QUEUE_GROUPS, method="post"),
    ViewCase("access-request-decline", build=_awaiting_request, coc_groups=QUEUE_GROUPS, method="post",
             data=lambda kwargs: {"reason": "Not one of the agency's staff"}),
]


# --- where an account stands in the HMIS ------------------------------------

def _hmis_account(organization):
    from tests.factories import HMISAccountFactory

    return {"pk": HMISAccountFactory(organization=organization).pk}


CASES += [
    # "Retry" sending an account to the HMIS: those who may provision; the
    # account's agency people get 403, another agency's 404.
    ViewCase("hmis-provisioning-retry", build=_hmis_account, coc_groups=QUEUE_GROUPS, method="post"),
]
