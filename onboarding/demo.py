"""Demo agencies at every stage of steps 1 and 2, built through the services
so each has a real history. Idempotent: an agency that already has an
agreement or a program is left as it is. Invented names, example.org only."""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.demo import demo_organization, demo_user
from accounts.models import Persona, User
from hmis_portal.core.calendar import local_date
from hmis_portal.core.demo import remember_login

from . import services
from .models import AgreementTemplate, CESOrganizationRole, OrganizationAgreement, Program, ProgramType
from .selectors import agreement_executed, agreement_submitted

# A minimal, valid one-page PDF standing in for a scanned agreement.
DEMO_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
            b"endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _scan():
    return SimpleUploadedFile("signed-agreement.pdf", DEMO_PDF, content_type="application/pdf")


# name, domain, stage
AGENCIES = [
    ("Harbor Light Housing", "harbor", "participating"),
    ("Cedar Grove Outreach", "cedargrove", "not_started"),
    ("Willow Creek Youth Services", "willowcreek", "draft"),
    ("Mesa Verde Family Services", "mesaverde", "submitted"),
    ("Riverbend Community Shelter", "riverbend", "returned"),
    ("Sunrise Assessment Collaborative", "sunrise", "executed"),
    ("Lantern House Transitional Living", "lantern", "setup_in_progress"),
    ("Northstar Housing Partners", "northstar", "ready_to_confirm"),
]


def _people(name, domain):
    organization = demo_organization(name)
    # Harbor Light's people come from accounts' demo data.
    director = User.objects.filter(email=f"director@{domain}.example.org").first() or demo_user(
        f"director@{domain}.example.org", f"{name.split()[0]} Director",
        memberships=[(organization, Persona.EXECUTIVE_DIRECTOR)])
    manager = User.objects.filter(email=f"manager@{domain}.example.org").first() or demo_user(
        f"manager@{domain}.example.org", f"{name.split()[0]} Manager",
        memberships=[(organization, Persona.PROGRAM_MANAGER)])
    # Printed on every run, the first and the next (the users exist then).
    remember_login(f"Executive Director ({name})", director.email)
    remember_login(f"Program Manager ({name})", manager.email)
    return organization, director, manager


def implementer() -> User:
    """The CoC staff member who countersigns and sets up programs in the demo
    (accounts' demo: the implementation team)."""
    return User.objects.get(email="implementation@example.org")


def participating(organization, *, director, manager=None, programs=(), execute: bool = True) -> dict:
    """Bring a demo agency to where another app's demo needs it, the way a
    real agency gets there (HMIS CES Participation Procedures, steps 1 and
    2), each step with its audit event: its director uploads and submits the
    signed agreement, CoC staff countersign it (unless `execute` is false),
    and its Program Manager requests the setup of each of `programs`
    ([(name, program type code)]), which CoC staff set up and the Program
    Manager confirms (unless `execute` is false: then the requests wait).
    Idempotent: what is done is left as it is. Returns the programs by name."""
    if not agreement_executed(organization):
        agreement = organization.agreements.filter(status__in=OrganizationAgreement.OPEN_STATUSES).first()
        if agreement is None or agreement.status != OrganizationAgreement.Status.SUBMITTED:
            agreement = services.agreement_upload(
                actor=director, organization=organization, upload=_scan(), signer_name=director.full_name,
                signer_title="Executive Director", signed_on=local_date() - dt.timedelta(days=3))
        if execute:
            services.agreement_countersign(actor=implementer(), agreement=agreement)
    found = {}
    for name, type_code in programs:
        program = Program.objects.filter(organization=organization, name=name).first()
        if program is None and agreement_submitted(organization):
            program = services.program_setup_request(actor=manager, organization=organization, name=name,
                                                     program_type=_type(type_code))
            if execute and program.setup_status == Program.SetupStatus.REQUESTED:
                program = services.program_setup_start(actor=implementer(), program=program)
                program = services.program_setup_complete(actor=implementer(), program=program)
            if execute:
                program = services.program_setup_confirm(actor=manager, program=program)
        found[name] = program
    return found


def _role(code):
    return CESOrganizationRole.objects.get(code=code)


def _type(code):
    return ProgramType.objects.get(code=code)


def seed(stdout) -> None:
    implementer = User.objects.get(email="implementation@example.org")
    if not AgreementTemplate.objects.exists():
        blank = SimpleUploadedFile("blank-agreement.pdf", DEMO_PDF, content_type="application/pdf")
        services.agreement_template_upload(actor=implementer, document=blank, note="First version")
    signed = local_date() - dt.timedelta(days=3)  # the CoC's date, not the server's
    built = 0
    for name, domain, stage in AGENCIES:
        organization, director, manager = _people(name, domain)
        if organization.agreements.exists() or organization.programs.exists() or stage == "not_started":
            continue
        built += 1
        agreement = services.agreement_upload(
            actor=director, organization=organization, upload=_scan(), signer_name=director.full_name,
            signer_title="Executive Director", signed_on=signed, submit=stage != "draft")
        if stage in ("draft", "submitted"):
            continue
        if stage == "returned":
            services.agreement_return(actor=implementer, agreement=agreement,
                                      reason="Page 3 is missing the Executive Director's signature. "
                                             "Sign page 3 and upload the whole agreement again.")
            continue
        services.agreement_countersign(actor=implementer, agreement=agreement)
        if stage == "executed":
            services.ces_roles_set(actor=manager, organization=organization, roles=[_role("assessment-only")])
            continue
        if stage == "participating":
            services.ces_roles_set(actor=manager, organization=organization,
                                   roles=[_role("housing-navigation"), _role("housing-provider")])
            housing = services.program_setup_request(
                actor=manager, organization=organization, name="Harbor Light Permanent Supportive Housing",
                program_type=_type("permanent-housing"), details="Forty scattered-site PSH units.")
            services.program_setup_confirm(actor=manager, program=housing)
            navigation = services.program_setup_request(
                actor=manager, organization=organization, name="Harbor Light Navigation Center",
                program_type=_type("access-center"), details="Walk-in access center with housing navigation.")
            services.program_setup_start(actor=implementer, program=navigation)
            services.program_setup_complete(actor=implementer, program=navigation, hmis_program_id="HL-1042")
            services.program_setup_confirm(actor=manager, program=navigation)
        elif stage == "setup_in_progress":
            services.ces_roles_set(actor=manager, organization=organization, roles=[_role("housing-navigation")])
            shelter = services.program_setup_request(
                actor=manager, organization=organization, name="Lantern House Bridge Housing",
                program_type=_type("transitional-housing"), request_kind="modify",
                existing_hmis_program="Lantern House TH (2019)")
            services.program_setup_start(actor=implementer, program=shelter)
            outreach = services.program_setup_request(
                actor=manager, organization=organization, name="Lantern Street Outreach",
                program_type=_type("outreach"))
            services.program_setup_ask(actor=implementer, program=outreach,
                                       question="Which Service Planning Areas does the outreach team cover?")
        elif stage == "ready_to_confirm":
            services.ces_roles_set(actor=manager, organization=organization, roles=[_role("housing-provider")])
            services.program_setup_request(
                actor=manager, organization=organization, name="Northstar Rapid Placement Apartments",
                program_type=_type("permanent-housing"))
    stdout.write(f"onboarding: {built} demo agencies built; "
                 f"{OrganizationAgreement.objects.count()} agreements")
