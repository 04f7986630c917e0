"""CoC staff find an agency or a person across the CoC, within the agencies
they may see; agency people cannot search."""

import pytest
from django.urls import reverse

from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_staff_find_agencies_and_people(client, django_assert_max_num_queries):
    harbor = OrganizationFactory(name="Harbor Lights Housing")
    person = MembershipFactory(organization=harbor, persona="program_manager",
                               user__full_name="Robin Harborview", user__email="robin@harbor.example.org").user
    client.force_login(StaffFactory(groups=["CoC training"]))
    page = client.get(reverse("agency-search"), {"q": "harbor"}).content.decode()
    assert "Harbor Lights Housing" in page and person.email in page
    assert reverse("onboarding:participation", args=[harbor.slug]) in page
    for _ in range(20):
        MembershipFactory(organization=OrganizationFactory(name=f"Harbor Extra {_}"), persona="staff")
    with django_assert_max_num_queries(20):
        client.get(reverse("agency-search"), {"q": "harbor"})


def test_a_regional_lead_finds_only_their_agencies(client):
    from guardian.shortcuts import assign_perm

    mine, other = OrganizationFactory(name="Cedar North"), OrganizationFactory(name="Cedar South")
    lead = StaffFactory()
    assign_perm("accounts.view_organization", lead, mine)
    client.force_login(lead)
    page = client.get(reverse("agency-search"), {"q": "cedar"}).content.decode()
    assert "Cedar North" in page and "Cedar South" not in page


def test_agency_people_cannot_search(client, organization):
    client.force_login(MembershipFactory(organization=organization, persona="program_manager").user)
    assert client.get(reverse("agency-search"), {"q": "a"}).status_code == 403
