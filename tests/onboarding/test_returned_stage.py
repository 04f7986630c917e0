"""A returned agreement waits on the agency, not on the CoC: its stage says so."""

import pytest
from django.urls import reverse

from onboarding.models import OrganizationAgreement, ParticipationStage
from onboarding.selectors import participation_stage
from tests.factories import MembershipFactory, OrganizationFactory
from tests.onboarding.factories import AgreementFactory

pytestmark = pytest.mark.django_db


def test_a_returned_agreement_is_not_shown_as_submitted(client):
    organization = OrganizationFactory(name="Hazel Street Shelter")
    AgreementFactory(organization=organization, status=OrganizationAgreement.Status.RETURNED,
                     return_reason="Page 3 is unsigned.")
    assert participation_stage(organization) == ParticipationStage.AGREEMENT_RETURNED
    member = MembershipFactory(organization=organization, persona="staff").user
    client.force_login(member)
    listed = client.get(reverse("onboarding:status-list")).content.decode()
    assert "Agreement returned for correction" in listed
    page = client.get(reverse("onboarding:participation", args=[organization.slug])).content.decode()
    assert "Agreement returned for correction" in page
    assert ">Agreement submitted<" not in page


def test_a_submitted_agreement_still_says_submitted():
    organization = OrganizationFactory()
    AgreementFactory(organization=organization, status=OrganizationAgreement.Status.SUBMITTED)
    assert participation_stage(organization) == ParticipationStage.AGREEMENT_SUBMITTED
