"""Two CoC staff countersign the same agreement at the same moment: the row
lock makes one wait for the other, which then finds it executed."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from hmis_portal.core.models import AuditEvent
from onboarding import services
from onboarding.models import OrganizationAgreement
from tests.factories import StaffFactory
from tests.onboarding.factories import AgreementFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_countersigning_at_once_execute_it_once(policy_rows):
    agreement = AgreementFactory()
    staff = [StaffFactory(groups=["CoC implementation"]), StaffFactory(groups=["CoC system admin"])]
    barrier = threading.Barrier(2)
    outcomes = []

    def countersign(user):
        try:
            barrier.wait(timeout=10)
            services.agreement_countersign(actor=user, agreement=agreement)
            outcomes.append("executed")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=countersign, args=(user,)) for user in staff]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes)[1] == "executed"
    assert "already countersigned" in sorted(outcomes)[0]
    agreement.refresh_from_db()
    assert agreement.status == OrganizationAgreement.Status.EXECUTED
    assert AuditEvent.objects.filter(verb="countersigned agreement", object_id=str(agreement.pk)).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_uploads_at_once_start_one_agreement(policy_rows, organization, owner):
    import datetime as dt

    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.onboarding.factories import PDF

    barrier = threading.Barrier(2)
    outcomes = []

    def submit():
        try:
            barrier.wait(timeout=10)
            services.agreement_upload(actor=owner, organization=organization,
                                      upload=SimpleUploadedFile("a.pdf", PDF), signer_name="Dana",
                                      signer_title="ED", signed_on=dt.date.today())
            outcomes.append("ok")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count("ok") == 1, outcomes
    assert OrganizationAgreement.objects.filter(organization=organization).count() == 1
