"""Demo data for HMIS access: users at every point of the checklist (some
overdue). Idempotent. (The accounts' life after the grant is
`hmis_accounts.demo`.)"""

import datetime as dt

from django.utils import timezone

from accounts.access import agency_people, has_persona
from accounts.demo import demo_organization, demo_user
from accounts.models import CoCGroup, Persona
from hmis_portal.core.calendar import local_date
from training.demo import _complete, _document, _form, _participating_agency, _pending_agency
from training.models import (Certificate, Course, CESRole, FormSubmission, Registration, RequiredForm, Review,
                             TrainingSession)

from .models import AccessPolicy, AccessRequest, HMISAccount
from .provisioning import provisioning_due
from .selectors import hmis_username_for, proposed_hmis_username
from .services import access_request_approve, access_request_create, access_request_grant, refresh_for_user


def _requester(agency, lead):
    """`lead`, or, when the CoC's access policy names other personas (seed
    003: the Authorized Representative), a demo person of the first of them."""
    personas = AccessPolicy.current().requester_personas
    if has_persona(lead, agency, personas):
        return lead
    persona = personas[0]
    domain = lead.email.split("@")[1]
    # The agency's own person of that persona where it has one (Northside's
    # Agency Administrator), printed with the logins: the pack relies on them.
    existing = agency_people(agency, [persona]).first()
    if existing is not None:
        return demo_user(existing.email, existing.full_name, label=_agency_label(agency, persona))
    return demo_user(f"{persona.replace('_', '.')}@{domain}",
                     f"{agency.name.split()[0]} {Persona(persona).label.split(' /')[0]}",
                     label=_agency_label(agency, persona), memberships=[(agency, persona)])


def _agency_label(agency, persona) -> str:
    """A printed login's label, the same whichever pack's demo names the person first."""
    return f"{Persona(persona).label.split(' /')[0]} ({agency})"


def _approver():
    return demo_user("provisioning@example.org", "Casey Provisioner", staff_groups=[CoCGroup.PROVISIONING])


def _request(agency, requester, email, name, roles, programs, *, new_user=True, approve=True):
    """An access request made as the policy says; where the CoC approves new
    requests, approved at once by the demo provisioning staff (unless
    `approve` is False: it waits for approval)."""
    existing = AccessRequest.objects.filter(user__email=email).first()
    if existing:
        return existing, False
    request = access_request_create(actor=_requester(agency, requester), organization=agency, full_name=name,
                                    email=email, new_hmis_user=new_user,
                                    roles=CESRole.objects.filter(code__in=roles), programs=programs)
    if approve and request.status == AccessRequest.Status.AWAITING_APPROVAL:
        request = access_request_approve(actor=_approver(), access_request_id=request.pk)
    return request, True


def _meet_policy(request):
    """Whatever else the loaded policy asks of a request shown as ready (under
    LA's, nothing: the records above are its checklist)."""
    from training import policy

    roles = list(request.roles.all())
    courses = policy.required_courses(roles, new_user=request.new_hmis_user)
    _complete(request.user, *[course.code for course in courses])
    for form in policy.required_forms(RequiredForm.objects.filter(active=True), new_user=request.new_hmis_user,
                                      courses=courses):
        _form(request.user, form.code, Review.VERIFIED)


def _form_mid_signing(agency, manager, program):
    """With a policy whose forms have several signers (the agency-admin pack):
    a user who signed in the portal, waiting on the agency's next signer."""
    from training.services import form_sign

    form = next((f for f in RequiredForm.objects.filter(active=True, signing__in=["portal", "either"])
                 if len(f.signer_roles) > 1 and f.signer_roles[0] == "user"), None)
    if form is None or not form.templates.exists() or not CESRole.objects.filter(code="housing-navigator",
                                                                                 active=True).exists():
        return
    # Printed with the logins: the pack's signers, the user and the next one.
    demo_user("executive.director@northside.example.org", "Robin Northside",
              label=_agency_label(agency, Persona.EXECUTIVE_DIRECTOR),
              memberships=[(agency, Persona.EXECUTIVE_DIRECTOR)])
    r, _ = _request(agency, manager, "mid.signing@northside.example.org", "Noel Midway", ["housing-navigator"],
                    [program])
    demo_user("mid.signing@northside.example.org", "Noel Midway",
              label=f"End user whose {form.title} waits on the next signer (Northside)")
    if not FormSubmission.objects.filter(user=r.user, form=form).exclude(status=Review.RETURNED).exists():
        form_sign(actor=r.user, form=form, owner=r.user, typed_name=r.user.full_name, attested=True)


def seed_access_requests(stdout):
    """Users at every point of the HMIS access checklist, some overdue."""
    hmis10 = TrainingSession.objects.get(notes="demo:hmis10")
    full = TrainingSession.objects.get(notes="demo:hmis509")
    past = TrainingSession.objects.get(notes="demo:hmis10-past")

    agency, programs = _participating_agency()
    manager = demo_user("manager@northside.example.org", "Quinn Northside",
                        label="Program Manager (Northside Community Services)",
                        memberships=[(agency, Persona.PROGRAM_MANAGER)])
    demo_user("agencyadmin@northside.example.org", "Jamie Keeper",
              label="Agency Administrator (Northside Community Services)",
              memberships=[(agency, Persona.AGENCY_ADMINISTRATOR)])
    nav, outreach, ph = programs["access-center"], programs["outreach"], programs["permanent-housing"]

    # 0. Where the CoC approves new requests (seed 003): one waiting for it.
    if AccessPolicy.current().access_requests_need_approval:
        _request(agency, manager, "awaiting.approval@northside.example.org", "Nico Pending", ["housing-navigator"],
                 [nav], approve=False)
        demo_user("awaiting.approval@northside.example.org", "Nico Pending",
                  label="End user waiting for the CoC's approval (Northside)")
    # 1. Just identified: nothing done yet.
    _request(agency, manager, "new.user@northside.example.org", "Casey Newcomer", ["housing-navigator"], [nav])
    # 2. Registered for HMIS 10, waitlisted for the full 509 class.
    r, created = _request(agency, manager, "registered@northside.example.org", "Drew Learner",
                          ["housing-navigator"], [nav])
    if created:
        Registration.objects.create(session=hmis10, user=r.user)
        for filler in ("seat.one@northside.example.org", "seat.two@northside.example.org"):
            Registration.objects.get_or_create(session=full, user=demo_user(filler, "Seat Holder"))
        Registration.objects.create(session=full, user=r.user, status=Registration.Status.WAITLISTED)
    # 3. Attended HMIS 10 two days ago (attendance not yet recorded) and
    #    uploaded a 102 certificate awaiting verification.
    r, created = _request(agency, manager, "outreach.worker@northside.example.org", "Emery Walker",
                          ["outreach"], [outreach])
    if created:
        Registration.objects.create(session=past, user=r.user)
        cert = Certificate(user=r.user, course=Course.objects.get(code="hmis-102"),
                           completed_on=local_date() - dt.timedelta(days=5))
        cert._document_kind = "pdf"
        cert.document.save("demo.pdf", _document(), save=False)
        cert.save()
    # 4. Trainings done, User Agreement returned with a reason.
    r, created = _request(agency, manager, "returned.form@northside.example.org", "Finley Signer",
                          ["housing-navigator"], [nav])
    if created:
        _complete(r.user, "hmis-10", "hmis-509-full")
        _form(r.user, "hmis-10-acknowledgement", Review.VERIFIED)
        _form(r.user, "user-agreement", Review.RETURNED, "The signature page is missing; scan every page.")
    # 5. Everything uploaded, forms awaiting verification by training staff.
    r, created = _request(agency, manager, "awaiting.review@northside.example.org", "Harper Waiting",
                          ["housing-navigator"], [nav])
    if created:
        _complete(r.user, "hmis-10", "hmis-509-full")
        _form(r.user, "hmis-10-acknowledgement")
        _form(r.user, "user-agreement")
    # 6–8. Ready: one due in the future, two overdue. An existing HMIS user
    #      (no HMIS 10) who is both Housing Provider and Matcher → CES_Matcher.
    for email, name, roles, progs, new_user, ready_days_ago in [
        ("ready@northside.example.org", "Indigo Ready", ["housing-provider"], [ph], False, 0),
        ("overdue@northside.example.org", "Jules Overdue", ["housing-navigator"], [nav], True, 9),
        ("matcher.overdue@northside.example.org", "Kai Matcher", ["housing-provider", "community-matcher"], [ph],
         False, 6),
    ]:
        r, created = _request(agency, manager, email, name, roles, progs, new_user=new_user)
        if created:
            _complete(r.user, "hmis-10", "hmis-509-full", "hmis-511", "hmis-510")
            _form(r.user, "hmis-10-acknowledgement", Review.VERIFIED)
            _form(r.user, "user-agreement", Review.VERIFIED)
            _meet_policy(r)
            refresh_for_user(user=r.user)
            ready_at = timezone.now() - dt.timedelta(days=ready_days_ago)
            AccessRequest.objects.filter(pk=r.pk).update(ready_at=ready_at,
                                                         provisioning_due_at=provisioning_due(ready_at))
    # 9. Provisioned last month, on time and late, for the SLA figure.
    admin = _approver()
    for email, name, late in [("granted@northside.example.org", "Lane Granted", False),
                              ("granted.late@northside.example.org", "Morgan Late", True)]:
        r, created = _request(agency, manager, email, name, ["housing-provider"], [ph], new_user=False)
        if created:
            _complete(r.user, "hmis-511")
            _form(r.user, "user-agreement", Review.VERIFIED)
            _meet_policy(r)
            refresh_for_user(user=r.user)
            ready_at = timezone.now() - dt.timedelta(days=40)
            AccessRequest.objects.filter(pk=r.pk).update(ready_at=ready_at,
                                                         provisioning_due_at=provisioning_due(ready_at))
            granted_at = ready_at + dt.timedelta(days=8 if late else 1)
            access_request_grant(actor=admin, access_request_id=r.pk, hmis_username=proposed_hmis_username(r),
                                 hmis_role="CES_Housing_Provider", now=granted_at)
    demo_user("new.user@northside.example.org", "Casey Newcomer", label="End user with an open checklist (Northside)")
    _form_mid_signing(agency, manager, nav)

    # Steps 1–2 not done: identified, but gated on the agreement and setup.
    eastgate, program = _pending_agency()
    lead = demo_user("manager@eastgate.example.org", "Rowan Eastgate", label="Program Manager (Eastgate, steps 1–2 open)",
                     memberships=[(eastgate, Persona.PROGRAM_MANAGER)])
    _request(eastgate, lead, "outreach@eastgate.example.org", "Sage Outreach", ["outreach"], [program])
    stdout.write(f"HMIS access: {AccessRequest.objects.count()} access requests")
    requester = _requester(agency, manager)
    if requester != manager:
        stdout.write(f"  Under this policy {requester.email} asks for Northside's HMIS access.")


# The housing providers' staff of the referral demo: they work CES referrals
# through granted, active HMIS access at their agency (SPEC §4), which is HMIS
# access's to give. Built before the referral demo, which finds them by email.
HOUSING_PROVIDER_STAFF = [
    ("housing@oakhollow.example.org", "Lee Housing", "Oak Hollow Housing Services"),
    ("housing@pineridge.example.org", "Robin Housing", "Pine Ridge Housing Collaborative"),
]


def seed_housing_provider_access(stdout) -> None:
    """Quiet: the referral demo's line counts these people."""
    for email, name, agency in HOUSING_PROVIDER_STAFF:
        organization = demo_organization(agency)
        user = demo_user(email, name, memberships=[(organization, Persona.STAFF)])
        if not HMISAccount.objects.filter(user=user).exists():
            HMISAccount.objects.create(user=user, organization=organization, hmis_username=hmis_username_for(user),
                                       hmis_role="CES_Housing_Provider", last_hmis_login_at=timezone.now())
