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


def test_the_agency_page_shows_each_step_and_whom_it_waits_on(client):
    organization = OrganizationFactory(name="Hazel Street Shelter")
    MembershipFactory(organization=organization, persona="executive_director", user__full_name="Eda Hazel")
    manager = MembershipFactory(organization=organization, persona="program_manager",
                                user__full_name="Pim Hazel").user
    client.force_login(manager)
    url = reverse("onboarding:participation", args=[organization.slug])
    page = client.get(url).content.decode()
    assert "Waiting on the Executive Director, Eda Hazel." in page
    assert "Can start once the Organization Agreement is submitted" in page
    # The menu leads every agency member back to this page.
    assert f'href="{url}"' in client.get(reverse("home")).content.decode()
    AgreementFactory(organization=organization, status=OrganizationAgreement.Status.RETURNED)
    page = client.get(url).content.decode()
    assert "Returned — waiting on the Executive Director to upload a corrected copy" in page
    OrganizationAgreement.objects.update(status=OrganizationAgreement.Status.SUBMITTED)
    page = client.get(url).content.decode()
    assert "Waiting on the CoC&#x27;s implementation team, to countersign it." in page
    assert "No program requested yet" in page and "Pim Hazel" in page
