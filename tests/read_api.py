"""Data for the read API's tests: an agency with a row in every collection."""

import datetime as dt

from django.utils import timezone

from hmis_access.models import AccessRequest
from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory
from tests.partnerships.factories import propose
from tests.referrals.factories import ProgramFactory, make_referral


def agency_with_work(name=None):
    """An agency with something in every collection: a confirmed program
    with a referral, a person with an access request and an HMIS account, a
    data partnership it proposed."""
    organization = OrganizationFactory(**({"name": name} if name else {}))
    program = ProgramFactory(organization=organization)
    make_referral(program, client_id=f"CLIENT{organization.pk}")
    person = MembershipFactory(organization=organization, persona="staff").user
    AccessRequest.objects.create(organization=organization, user=person, status=AccessRequest.Status.READY,
                                 ready_at=timezone.now(), provisioning_due_at=timezone.now() + dt.timedelta(days=3))
    HMISAccountFactory(user=person, organization=organization, last_hmis_login_at=timezone.now())
    partnership = propose(agency=organization)
    return {"agency": organization.pk, "program": program.pk,
            "access-request": AccessRequest.objects.get(user=person).pk,
            "hmis-account": person.hmis_account.pk, "partnership": partnership.pk}


def agency_ids(collection, row) -> set[int]:
    """The agencies a row is about."""
    if collection == "agency":
        return {row["id"]}
    if collection == "partnership":
        return {row["agency"], row["partner"]}
    return {row["agency"]}
