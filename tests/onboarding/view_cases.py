from onboarding.models import OrganizationAgreement, Program
from tests.onboarding.factories import AgreementFactory, ProgramFactory, add_copy
from tests.view_permissions import ViewCase

EVERY_GROUP = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")
COUNTERSIGNERS = ("CoC implementation", "CoC system admin")
READERS = ("executive_director", "program_manager", "agency_administrator")


def _agreement(organization, status=OrganizationAgreement.Status.SUBMITTED):
    agreement = AgreementFactory(organization=organization, status=status)
    add_copy(agreement)
    return agreement


def _program(organization, status):
    return ProgramFactory(organization=organization, setup_status=status, question="Which SPAs?")


def _blank_agreement(organization):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from onboarding.services import agreement_template_upload
    from tests.factories import StaffFactory
    from tests.onboarding.factories import PDF

    agreement_template_upload(actor=StaffFactory(groups=["CoC implementation"]),
                              document=SimpleUploadedFile("blank.pdf", PDF, content_type="application/pdf"))
    return {}


CASES = [
    # The blank agreement: the Executive Directors who sign it, the CoC staff who countersign or set it.
    ViewCase("onboarding:agreement-template", build=_blank_agreement, personas=("executive_director",),
             coc_groups=COUNTERSIGNERS, agency_object=False),
    # An agency's steps 1–2 page: every member; CoC staff look after all agencies.
    ViewCase("onboarding:participation", build=lambda o: {"slug": o.slug}, personas="any", coc_groups=EVERY_GROUP),
    # Only the Executive Director / Authorized Representative signs (seed 000, step 1.1).
    ViewCase("onboarding:agreement-upload", build=lambda o: {"slug": o.slug}, personas=("executive_director",)),
    ViewCase("onboarding:agreement-upload", build=lambda o: {"slug": o.slug}, personas=("executive_director",),
             method="post", data=lambda kw: {"signer_name": ""}),
    # Signed agreements: the agency's leads, and only the CoC staff who countersign.
    ViewCase("onboarding:agreement-detail", build=lambda o: {"pk": _agreement(o).pk}, personas=READERS,
             coc_groups=COUNTERSIGNERS),
    ViewCase("onboarding:agreement-copy", build=lambda o: {"pk": _agreement(o).pk, "version": 1}, personas=READERS,
             coc_groups=COUNTERSIGNERS),
    ViewCase("onboarding:agreement-submit",
             build=lambda o: {"pk": _agreement(o, OrganizationAgreement.Status.DRAFT).pk},
             personas=("executive_director",), method="post"),
    # Ending an agency's agreement before its term: the CoC staff who countersign.
    ViewCase("onboarding:agreement-terminate",
             build=lambda o: {"pk": _agreement(o, OrganizationAgreement.Status.EXECUTED).pk},
             coc_groups=COUNTERSIGNERS, method="post", data=lambda kw: {"reason": ""}),
    # The Program Manager names CES roles and requests and confirms program setup (seed 000, step 2).
    ViewCase("onboarding:ces-roles", build=lambda o: {"slug": o.slug}, personas=("program_manager",)),
    ViewCase("onboarding:program-request", build=lambda o: {"slug": o.slug}, personas=("program_manager",)),
    ViewCase("onboarding:program-request", build=lambda o: {"slug": o.slug}, personas=("program_manager",),
             method="post", data=lambda kw: {"name": ""}),
    ViewCase("onboarding:program-detail", build=lambda o: {"pk": _program(o, Program.SetupStatus.REQUESTED).pk},
             personas="any", coc_groups=EVERY_GROUP),
    ViewCase("onboarding:program-answer",
             build=lambda o: {"pk": _program(o, Program.SetupStatus.NEEDS_INFORMATION).pk},
             personas=("program_manager",), method="post", data=lambda kw: {"answer": "SPA 4 and 6."}),
    ViewCase("onboarding:program-confirm",
             build=lambda o: {"pk": _program(o, Program.SetupStatus.SETUP_COMPLETE).pk},
             personas=("program_manager",), method="post"),
    ViewCase("onboarding:program-report-problem",
             build=lambda o: {"pk": _program(o, Program.SetupStatus.SETUP_COMPLETE).pk},
             personas=("program_manager",), method="post", data=lambda kw: {"problem": "Wrong project type."}),
    # The CES Participation Status List: every signed-in person (public only when policy says so).
    ViewCase("onboarding:status-list", personas="any", coc_groups=EVERY_GROUP, agency_object=False),
    ViewCase("onboarding:status-list-xlsx", personas="any", coc_groups=EVERY_GROUP, agency_object=False),
    ViewCase("onboarding:status-list-csv", personas="any", coc_groups=EVERY_GROUP, agency_object=False),
    # CoC staff who countersign or set up programs.
    ViewCase("onboarding:coc-queue", coc_groups=("CoC implementation", "CoC system admin"),
             agency_object=False),
]


def _join_request(organization):
    from onboarding.models import JoinRequest

    return JoinRequest.objects.create(organization_name=f"Newcomer {organization.pk}", contact_name="Ada",
                                      contact_email=f"ada{organization.pk}@example.org")


CASES += [
    # Requests to join are decided by the implementation team (and system admins).
    ViewCase("onboarding:join-request", build=lambda o: {"pk": _join_request(o).pk},
             coc_groups=("CoC implementation", "CoC system admin"), agency_object=False),
    ViewCase("onboarding:join-request", build=lambda o: {"pk": _join_request(o).pk},
             coc_groups=("CoC implementation", "CoC system admin"), agency_object=False, method="post",
             data=lambda kw: {"action": "decline", "reason": ""}),
]
