"""Demo data for step 3: sessions, and users at every point of the HMIS access
checklist, some overdue. Invented names, example.org addresses. Idempotent:
each person's request is created once; sessions are found by their notes."""

import datetime as dt

from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.demo import demo_organization, demo_user
from accounts.models import AccessRequest, CoCGroup, Persona
from hmis_portal.core.calendar import add_business_days, local_date

from .models import (Certificate, Completion, Course, CESRole, FormSubmission, Registration, RequiredForm, Review,
                     TrainingSession)

PDF = b"%PDF-1.4\n% demo document\n"


def _document(name="demo.pdf"):
    upload = ContentFile(PDF, name=name)
    upload.document_kind = "pdf"
    return upload


def _session(key, course_code, *, days, hours=3, capacity=20, webinar=True):
    course = Course.objects.get(code=course_code)
    existing = TrainingSession.objects.filter(notes=f"demo:{key}").first()
    if existing:
        return existing
    start = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(days=days)
    return TrainingSession.objects.create(
        course=course, starts_at=start, ends_at=start + dt.timedelta(hours=hours), capacity=capacity,
        webinar_url="https://training.example.org/webinar" if webinar else "",
        location="" if webinar else "CoC training room, 100 Example Street", notes=f"demo:{key}")


def _participating_agency():
    from onboarding.models import OrganizationAgreement, Program, ProgramType

    agency = demo_organization("Northside Community Services")
    if not OrganizationAgreement.objects.filter(organization=agency, status="executed").exists():
        OrganizationAgreement.objects.create(organization=agency, status="executed", signer_name="Robin Northside",
                                             signer_title="Executive Director", signed_on=local_date(),
                                             countersigned_at=timezone.now())
    programs = {}
    for name, type_code in [("Northside Access Center", "access-center"), ("Northside Street Outreach", "outreach"),
                            ("Northside Permanent Homes", "permanent-housing")]:
        programs[type_code], _ = Program.objects.get_or_create(
            organization=agency, name=name,
            defaults={"program_type": ProgramType.objects.get(code=type_code), "setup_status": "confirmed"})
    return agency, programs


def _pending_agency():
    from onboarding.models import Program, ProgramType

    agency = demo_organization("Eastgate Outreach Partners")
    program, _ = Program.objects.get_or_create(
        organization=agency, name="Eastgate Street Outreach",
        defaults={"program_type": ProgramType.objects.get(code="outreach"), "setup_status": "requested"})
    return agency, program


def _request(agency, requester, email, name, roles, programs, *, new_user=True):
    from accounts.services import access_request_create

    existing = AccessRequest.objects.filter(user__email=email).first()
    if existing:
        return existing, False
    request = access_request_create(actor=requester, organization=agency, full_name=name, email=email,
                                    new_hmis_user=new_user, roles=CESRole.objects.filter(code__in=roles),
                                    programs=programs)
    return request, True


def _complete(user, *codes, days_ago=20):
    for code in codes:
        Completion.objects.get_or_create(user=user, course=Course.objects.get(code=code), defaults={
            "completed_on": local_date() - dt.timedelta(days=days_ago), "source": Completion.Source.CERTIFICATE})


def _form(user, code, status=Review.SUBMITTED, reason=""):
    form = RequiredForm.objects.get(code=code)
    if FormSubmission.objects.filter(user=user, form=form).exists():
        return
    submission = FormSubmission(user=user, form=form, version=1, status=status, reason=reason)
    submission._document_kind = "pdf"
    submission.document.save("demo.pdf", _document(), save=False)
    submission.save()


def seed(stdout):
    from accounts.services import refresh_for_user

    hmis10 = _session("hmis10", "hmis-10", days=3)
    _session("hmis509", "hmis-509-full", days=8, hours=7, capacity=2, webinar=False)
    full = TrainingSession.objects.get(notes="demo:hmis509")
    _session("hmis102", "hmis-102", days=10, webinar=False)
    _session("hmis511", "hmis-511", days=5, hours=1)
    _session("hmis510", "hmis-510", days=6, hours=2)
    past = _session("hmis10-past", "hmis-10", days=-2)

    agency, programs = _participating_agency()
    manager = demo_user("manager@northside.example.org", "Quinn Northside",
                        label="Program Manager (Northside Community Services)",
                        memberships=[(agency, Persona.PROGRAM_MANAGER)])
    demo_user("agencyadmin@northside.example.org", "Jamie Keeper",
              label="Agency Administrator (Northside Community Services)",
              memberships=[(agency, Persona.AGENCY_ADMINISTRATOR)])
    nav, outreach, ph = programs["access-center"], programs["outreach"], programs["permanent-housing"]

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
            refresh_for_user(r.user)
            ready_at = timezone.now() - dt.timedelta(days=ready_days_ago)
            AccessRequest.objects.filter(pk=r.pk).update(ready_at=ready_at,
                                                         provisioning_due_on=add_business_days(ready_at, 3))
    # 9. Provisioned last month, on time and late, for the SLA figure.
    from accounts.services import access_request_grant

    admin = demo_user("provisioning@example.org", "Casey Provisioner", staff_groups=[CoCGroup.PROVISIONING])
    for email, name, late in [("granted@northside.example.org", "Lane Granted", False),
                              ("granted.late@northside.example.org", "Morgan Late", True)]:
        r, created = _request(agency, manager, email, name, ["housing-provider"], [ph], new_user=False)
        if created:
            _complete(r.user, "hmis-511")
            _form(r.user, "user-agreement", Review.VERIFIED)
            refresh_for_user(r.user)
            ready_at = timezone.now() - dt.timedelta(days=40)
            due = add_business_days(ready_at, 3)
            AccessRequest.objects.filter(pk=r.pk).update(ready_at=ready_at, provisioning_due_on=due)
            granted_at = ready_at + dt.timedelta(days=8 if late else 1)
            access_request_grant(actor=admin, access_request_id=r.pk, hmis_username=email.split("@")[0],
                                 hmis_role="CES_Housing_Provider", now=granted_at)
    demo_user("new.user@northside.example.org", "Casey Newcomer", label="End user with an open checklist (Northside)")

    # Steps 1–2 not done: identified, but gated on the agreement and setup.
    eastgate, program = _pending_agency()
    lead = demo_user("manager@eastgate.example.org", "Rowan Eastgate", label="Program Manager (Eastgate, steps 1–2 open)",
                     memberships=[(eastgate, Persona.PROGRAM_MANAGER)])
    _request(eastgate, lead, "outreach@eastgate.example.org", "Sage Outreach", ["outreach"], [program])
    stdout.write(f"training: {TrainingSession.objects.count()} sessions, {AccessRequest.objects.count()} access requests")
