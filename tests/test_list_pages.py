"""Long lists are paged: the agency's HMIS users and the CES Participation
Status List cost the same queries at 10 rows as at 1,000 (the downloads keep
every row)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Organization, User
from hmis_access.models import AccessRequest
from tests.factories import StaffFactory
from tests.training.factories import manager_of, participating

pytestmark = pytest.mark.django_db


def _get(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(captured)


def _more_requests(organization, role, start, count):
    users = User.objects.bulk_create([User(email=f"paged{n}@example.org", full_name=f"Paged Person {n:04d}")
                                      for n in range(start, start + count)])
    users = User.objects.filter(email__in=[u.email for u in users])
    requests = AccessRequest.objects.bulk_create([AccessRequest(organization=organization, user=user)
                                                  for user in users])
    AccessRequest.roles.through.objects.bulk_create([
        AccessRequest.roles.through(accessrequest_id=r.pk, cesrole_id=role.pk)
        for r in AccessRequest.objects.filter(user__email__startswith="paged", roles=None)])
    return requests


def test_the_agency_users_page_is_paged_in_constant_queries(client, organization):
    from training.models import CESRole

    participating(organization)
    lead = manager_of(organization)
    role = CESRole.objects.order_by("pk").first()
    client.force_login(lead)
    url = reverse("agency-users", kwargs={"slug": organization.slug})
    _more_requests(organization, role, 0, 10)
    client.get(url)
    _, at_10 = _get(client, url)
    _more_requests(organization, role, 10, 990)
    first, at_1000 = _get(client, url)
    assert at_1000 == at_10
    page = first.content.decode()
    assert page.count("Paged Person") == 50
    assert "of 1,000" in page or "of 1000" in page
    last, at_last = _get(client, url + "?page=20")
    assert last.content.decode().count("Paged Person") == 50
    assert at_last == at_10


def test_the_status_list_is_paged_in_constant_queries_and_the_downloads_keep_every_row(client):
    client.force_login(StaffFactory())
    url = reverse("onboarding:status-list")
    Organization.objects.bulk_create([Organization(name=f"Paged Agency {n:04d}", slug=f"paged-agency-{n}")
                                      for n in range(10)])
    client.get(url)
    _, at_10 = _get(client, url)
    Organization.objects.bulk_create([Organization(name=f"Paged Agency {n:04d}", slug=f"paged-agency-{n}")
                                      for n in range(10, 1000)])
    first, at_1000 = _get(client, url)
    assert at_1000 == at_10
    page = first.content.decode()
    assert page.count("Paged Agency") == 100
    second, _ = _get(client, url + "?q=Paged&page=2")
    assert "Paged Agency 0100" in second.content.decode() and "Paged Agency 0099" not in second.content.decode()
    assert "q=Paged&amp;page=3" in second.content.decode()
    csv = client.get(reverse("onboarding:status-list-csv")).content.decode()
    assert csv.count("Paged Agency") == 1000
