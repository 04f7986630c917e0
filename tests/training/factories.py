"""Builders for step 3 tests: a participating agency, requests, sessions, uploads."""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from hmis_access.services import access_request_create
from tests.factories import MembershipFactory

PDF = b"%PDF-1.4\n% test\n"


def pdf(name="scan.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def blank_form(code, *, resign_required=False, actor=None):
    """A new blank version of a form, uploaded by CoC training staff."""
    from tests.factories import StaffFactory
    from training.models import RequiredForm
    from training.services import form_template_upload

    return form_template_upload(actor=actor or StaffFactory(groups=["CoC training"]),
                                form_id=RequiredForm.objects.get(code=code).pk, document=pdf("blank.pdf"),
                                resign_required=resign_required)


def agreement(organization, status="executed"):
    from onboarding.models import OrganizationAgreement

    return OrganizationAgreement.objects.create(organization=organization, status=status)


def program(organization, type_code, *, confirmed=True, name=None):
    from onboarding.models import Program, ProgramType

    return Program.objects.create(
        organization=organization, name=name or f"{organization.name} {type_code}",
        program_type=ProgramType.objects.get(code=type_code),
        setup_status=Program.SetupStatus.CONFIRMED if confirmed else Program.SetupStatus.REQUESTED)


def participating(organization, *type_codes):
    """Steps 1 and 2 done: an executed agreement and confirmed programs."""
    agreement(organization)
    return {code: program(organization, code) for code in type_codes}


def roles(*codes):
    from training.models import CESRole

    return list(CESRole.objects.filter(code__in=codes))


def manager_of(organization):
    """The agency's Program Manager (created the first time)."""
    from accounts.models import Membership

    existing = Membership.objects.filter(organization=organization, persona="program_manager").first()
    return existing.user if existing else MembershipFactory(organization=organization, persona="program_manager").user


def requester_of(organization):
    """Someone of the agency who may ask for access under the CoC's access
    policy: the Program Manager in LA, the Executive Director in mo-bos."""
    from accounts.models import Membership
    from hmis_access.models import AccessPolicy

    personas = AccessPolicy.current().requester_personas
    if "program_manager" in personas:
        return manager_of(organization)
    existing = Membership.objects.filter(organization=organization, persona=personas[0]).first()
    return existing.user if existing else MembershipFactory(organization=organization, persona=personas[0]).user


def identify(organization, *, role_codes=("housing-navigator",), programs=(), email=None, new_user=True,
             actor=None, name="Robin Example"):
    from hmis_access.models import AccessRequest

    count = AccessRequest.objects.count()
    return access_request_create(
        actor=actor or requester_of(organization), organization=organization, full_name=name,
        email=email or f"identified{count}-{organization.pk}@example.org", new_hmis_user=new_user,
        roles=roles(*role_codes), programs=list(programs))


def session(course_code, *, days=3, capacity=10, **kwargs):
    from training.models import Course, TrainingSession

    start = timezone.now() + dt.timedelta(days=days)
    return TrainingSession.objects.create(course=Course.objects.get(code=course_code), starts_at=start,
                                          ends_at=start + dt.timedelta(hours=3), capacity=capacity,
                                          webinar_url="https://training.example.org/w", **kwargs)


def complete(user, *course_codes):
    from training.models import Completion, Course

    for code in course_codes:
        Completion.objects.create(user=user, course=Course.objects.get(code=code), completed_on=dt.date(2026, 1, 5),
                                  source=Completion.Source.CERTIFICATE)


def finish_everything(access_request, staff):
    """Complete every course and verify every form of a request's checklist,
    through the services (so readiness is re-evaluated as in real use)."""
    from hmis_access.checklist import build_checklist
    from training import services
    from training.models import Certificate

    user = access_request.user
    for item in build_checklist(access_request).items:
        if item.kind == "course" and not item.done:
            cert = services.certificate_submit(actor=user, course=item.obj, completed_on=dt.date(2026, 1, 5),
                                               document=pdf())
            services.certificate_verify(actor=staff, certificate_id=cert.pk)
        elif item.kind == "form" and not item.done:
            submission = services.form_submit(actor=user, form=item.obj, document=pdf())
            services.form_verify(actor=staff, submission_id=submission.pk)
    access_request.refresh_from_db()
    return access_request


def ensure_policy():
    """Reload what migrations load: a transactional test that ran earlier
    flushed them (see tests/migration_rows.py)."""
    from tests import migration_rows

    migration_rows.reload()
