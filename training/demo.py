"""Demo data for training: sessions of every course, and the agencies and
training records the HMIS-access demo builds on. Invented names, example.org
addresses. Idempotent: sessions are found by their notes."""

import datetime as dt

from django.core.files.base import ContentFile

from accounts.demo import demo_organization, demo_user
from accounts.models import Persona
from hmis_portal.core.calendar import BusinessCalendar, local_date, start_of_day
from onboarding.demo import participating

from .models import Completion, Course, FormSubmission, FormTemplate, RequiredForm, Review, TrainingSession

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
    # On a business day of the CoC's calendar (never a weekend or a holiday):
    # the nearest one after the day asked for, or before it for a past session.
    business = BusinessCalendar.load()
    day = local_date() + dt.timedelta(days=days)
    while not business.is_business_day(day):
        day += dt.timedelta(days=1 if days >= 0 else -1)
    start = start_of_day(day) + dt.timedelta(hours=9)
    return TrainingSession.objects.create(
        course=course, starts_at=start, ends_at=start + dt.timedelta(hours=hours), capacity=capacity,
        webinar_url="https://training.example.org/webinar" if webinar else "",
        location="" if webinar else "CoC training room, 100 Example Street", notes=f"demo:{key}")


def _participating_agency():
    """Northside, participating as a real agency becomes: its agreement and
    its programs' setup through onboarding's services."""
    agency = demo_organization("Northside Community Services")
    # No printed login: HMIS access's demo prints the agency's people it shows.
    director = demo_user("executive.director@northside.example.org", "Robin Northside",
                         memberships=[(agency, Persona.EXECUTIVE_DIRECTOR)])
    manager = demo_user("manager@northside.example.org", "Quinn Northside",
                        memberships=[(agency, Persona.PROGRAM_MANAGER)])
    kinds = [("Northside Access Center", "access-center"), ("Northside Street Outreach", "outreach"),
             ("Northside Permanent Homes", "permanent-housing")]
    found = participating(agency, director=director, manager=manager, programs=kinds)
    return agency, {type_code: found[name] for name, type_code in kinds}


def _pending_agency():
    """Eastgate, with steps 1 and 2 open: its agreement submitted and not yet
    countersigned, its program's setup requested and not yet started."""
    agency = demo_organization("Eastgate Outreach Partners")
    director = demo_user("director@eastgate.example.org", "Eastgate Director",
                         memberships=[(agency, Persona.EXECUTIVE_DIRECTOR)])
    manager = demo_user("manager@eastgate.example.org", "Rowan Eastgate",
                        memberships=[(agency, Persona.PROGRAM_MANAGER)])
    name = "Eastgate Street Outreach"
    return agency, participating(agency, director=director, manager=manager, programs=[(name, "outreach")],
                                 execute=False)[name]


def _complete(user, *codes, days_ago=20):
    """`user`'s completions of the courses `codes` (each once; those the user has are left)."""
    courses = {course.code: course for course in Course.objects.filter(code__in=codes)}
    missing = [code for code in codes if code not in courses]
    if missing:
        raise Course.DoesNotExist(f"No course {', '.join(missing)}.")
    done = set(Completion.objects.filter(user=user, course__in=courses.values()).values_list("course_id", flat=True))
    completed_on = local_date() - dt.timedelta(days=days_ago)
    Completion.objects.bulk_create([
        Completion(user=user, course=course, completed_on=completed_on, source=Completion.Source.CERTIFICATE)
        for course in dict.fromkeys(courses[code] for code in codes) if course.pk not in done])


def _form(user, code, status=Review.SUBMITTED, reason=""):
    form = RequiredForm.objects.get(code=code)
    if FormSubmission.objects.filter(user=user, form=form).exists():
        return
    submission = FormSubmission(user=user, form=form, version=1, status=status, reason=reason)
    submission._document_kind = "pdf"
    submission.document.save("demo.pdf", _document(), save=False)
    submission.save()


def seed(stdout):
    """Sessions of every course, one full with a waitlist and one past. The
    people working through the checklist come with HMIS access's demo."""
    _session("hmis10", "hmis-10", days=3)
    _session("hmis509", "hmis-509-full", days=8, hours=7, capacity=2, webinar=False)
    _session("hmis102", "hmis-102", days=10, webinar=False)
    _session("hmis511", "hmis-511", days=5, hours=1)
    _session("hmis510", "hmis-510", days=6, hours=2)
    _session("hmis10-past", "hmis-10", days=-2)
    _blank_forms()
    stdout.write(f"training: {TrainingSession.objects.count()} sessions")


def _blank_forms():
    """Version 1 of each active form's blank document, so the download links work."""
    import hashlib

    for form in RequiredForm.objects.filter(active=True, templates__isnull=True):
        template = FormTemplate(form=form, version=1, sha256=hashlib.sha256(PDF).hexdigest(),
                                note="First version")
        template._document_kind = "pdf"
        template.document.save("demo.pdf", _document(), save=False)
        template.save()
