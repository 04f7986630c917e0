from tests.factories import MembershipFactory
from tests.view_permissions import ViewCase

ALL_GROUPS = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")
DOCUMENT_GROUPS = ("CoC training", "CoC provisioning", "CoC system admin")
LEADS = ("executive_director", "program_manager", "agency_administrator")


def _session(organization):
    from tests.training.factories import session

    return {"pk": session("hmis-10").pk}


def _registration(organization):
    from tests.training.factories import session
    from training.services import session_register

    person = MembershipFactory(organization=organization).user
    return {"pk": session_register(actor=person, session_id=session("hmis-10").pk).pk}


def _certificate(organization):
    import datetime as dt

    from tests.training.factories import pdf
    from training.models import Course
    from training.services import certificate_submit

    person = MembershipFactory(organization=organization).user
    return {"pk": certificate_submit(actor=person, course=Course.objects.get(code="hmis-10"),
                                     completed_on=dt.date(2026, 1, 5), document=pdf()).pk}


def _form_submission(organization):
    from tests.training.factories import pdf
    from training.models import RequiredForm
    from training.services import form_submit

    person = MembershipFactory(organization=organization).user
    return {"pk": form_submit(actor=person, form=RequiredForm.objects.get(code="user-agreement"), document=pdf()).pk}


def _person(organization):
    person = MembershipFactory(organization=organization).user
    return {"code": "user-agreement", "user_id": person.pk}


def _signature(organization):
    from training.models import FormSignature

    return {"pk": FormSignature.objects.get(submission_id=_form_submission(organization)["pk"]).pk}


def _blank(organization):
    from tests.training.factories import blank_form

    return {"pk": blank_form("user-agreement").pk}


CASES = [
    # Anyone signed in sees the upcoming sessions.
    ViewCase("training:sessions", personas="any", coc_groups=ALL_GROUPS, agency_object=False),
    # Agency staff register themselves; CoC staff do not take the courses.
    ViewCase("training:session-register", build=_session, personas="any", method="post", agency_object=False),
    # A registration is its person's own: everyone else gets a 404.
    ViewCase("training:registration-cancel", build=_registration, method="post"),
    ViewCase("training:registration-ics", build=_registration),
    ViewCase("training:certificate-upload", personas="any", agency_object=False),
    ViewCase("training:certificate-upload", personas="any", agency_object=False, method="post"),
    ViewCase("training:form-upload", build=lambda o: {"code": "user-agreement"}, personas="any",
             agency_object=False),
    ViewCase("training:form-upload", build=lambda o: {"code": "user-agreement"}, personas="any",
             agency_object=False, method="post"),
    # A person's documents: them, their agency's leads, CoC staff who verify or provision.
    ViewCase("training:certificate-document", build=_certificate, personas=LEADS, coc_groups=DOCUMENT_GROUPS),
    ViewCase("training:form-document", build=_form_submission, personas=LEADS, coc_groups=DOCUMENT_GROUPS),
    ViewCase("training:signature-document", build=_signature, personas=LEADS, coc_groups=DOCUMENT_GROUPS),
    # Another person's form: their agency's leads see it (and its signers sign there); CoC staff who read forms.
    ViewCase("training:form-person", build=_person, personas=LEADS, coc_groups=DOCUMENT_GROUPS),
    ViewCase("training:form-person", build=_person, personas=LEADS, coc_groups=DOCUMENT_GROUPS, method="post"),
    # A blank form: agency people who may sign it, and CoC staff who set or read forms; never public.
    ViewCase("training:form-template-document", build=_blank, personas="any", coc_groups=DOCUMENT_GROUPS,
             agency_object=False),
]
