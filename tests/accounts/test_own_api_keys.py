"""A person's own API keys, in the browser: an agency's Executive Director
makes a read key that reads their agency and nothing of another's, copies it
once, rotates and revokes it; nobody else reaches it; a second submit of the
same form makes no second key."""

import re

import pytest
from django.urls import reverse

from accounts.apikeys.models import KEY_TAG, ApiKey
from hmis_portal.core.models import AuditEvent
from tests.api_keys import bearer
from tests.factories import MembershipFactory
from tests.read_api import agency_with_work

pytestmark = pytest.mark.django_db


def _make(client, name="Agency dashboard"):
    page = client.get(reverse("api-keys")).content.decode()
    once = re.search(r'name="once" value="([0-9a-f]+)"', page).group(1)
    return client.post(reverse("api-keys"), {"name": name, "once": once}), once


def _shown(client) -> str:
    page = client.get(reverse("api-keys")).content.decode()
    found = re.search(r"<code[^>]*data-key>([^<]+)</code>", page)
    return found.group(1) if found else ""


def test_an_executive_director_makes_a_read_key_that_reads_their_agency_only(client):
    own, other = agency_with_work("Alpha Housing"), agency_with_work("Beta Shelter")
    director = MembershipFactory(organization_id=own["agency"], persona="executive_director").user
    client.force_login(director)
    assert "API keys" in client.get(reverse("home")).content.decode()  # in their menu
    response, _ = _make(client)
    assert response.status_code == 302
    key = _shown(client)
    assert key.startswith(f"{KEY_TAG}_")
    assert _shown(client) == ""  # shown once
    [made] = ApiKey.objects.filter(owner=director)
    assert made.scope_list == ["read"] and made.name == "Agency dashboard" and made.created_by == director
    assert key not in str(list(AuditEvent.objects.values_list("reason", "data")))  # never audited in full
    client.logout()
    rows = client.get(reverse("api:agency-list"), **bearer(key)).json()["results"]
    assert [row["id"] for row in rows] == [own["agency"]]
    other_program = client.get(reverse("api:program-detail", args=[other["program"]]), **bearer(key))
    assert other_program.status_code == 404


def test_a_second_submit_of_the_same_form_makes_no_second_key(client):
    person = MembershipFactory(persona="program_manager").user
    client.force_login(person)
    first, once = _make(client)
    again = client.post(reverse("api-keys"), {"name": "Agency dashboard", "once": once}, follow=True)
    assert ApiKey.objects.filter(owner=person).count() == 1
    assert "already made" in again.content.decode()


def test_with_the_cache_out_of_reach_a_key_is_still_made_once(client, monkeypatch):
    from django.core.cache import cache

    person = MembershipFactory(persona="program_manager").user
    client.force_login(person)
    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: False)  # as the cache answers in an outage
    _, once = _make(client)
    assert ApiKey.objects.filter(owner=person).count() == 1
    client.post(reverse("api-keys"), {"name": "Agency dashboard", "once": once})
    assert ApiKey.objects.filter(owner=person).count() == 1


def test_rotate_replaces_the_key_and_revoke_ends_it_and_both_are_audited(client):
    own = agency_with_work()
    person = MembershipFactory(organization_id=own["agency"], persona="program_manager").user
    client.force_login(person)
    _make(client)
    first = _shown(client)
    made = ApiKey.objects.get(owner=person)
    client.post(reverse("api-key-rotate", args=[made.pk]))
    second = _shown(client)
    assert second and second != first
    assert client.get(reverse("api:agency-list"), **bearer(first)).status_code == 401
    assert client.get(reverse("api:agency-list"), **bearer(second)).status_code == 200
    client.post(reverse("api-key-revoke", args=[made.pk]))
    again = client.post(reverse("api-key-revoke", args=[made.pk]), follow=True)  # a second submit
    assert "already revoked" in again.content.decode()
    assert client.get(reverse("api:agency-list"), **bearer(second)).status_code == 401
    verbs = list(AuditEvent.objects.filter(object_id=str(made.pk)).values_list("verb", flat=True))
    assert verbs.count("rotated an API key") == 1 and verbs.count("revoked an API key") == 1
    page = client.get(reverse("api-keys")).content.decode()
    assert "Revoked" in page and f'action="{reverse("api-key-rotate", args=[made.pk])}"' not in page


def test_another_person_s_key_is_not_found_even_by_their_agency_s_administrator(client):
    own = agency_with_work()
    owner = MembershipFactory(organization_id=own["agency"], persona="executive_director").user
    client.force_login(owner)
    _make(client)
    key = ApiKey.objects.get(owner=owner)
    colleague = MembershipFactory(organization_id=own["agency"], persona="agency_administrator").user
    client.force_login(colleague)
    assert client.post(reverse("api-key-revoke", args=[key.pk])).status_code == 404
    assert client.post(reverse("api-key-rotate", args=[key.pk])).status_code == 404
    assert "Dashboard" not in client.get(reverse("api-keys")).content.decode()
    key.refresh_from_db()
    assert not key.is_revoked


def test_a_nameless_key_is_refused_with_the_reason_and_nothing_made(client):
    person = MembershipFactory(persona="program_manager").user
    client.force_login(person)
    page = client.get(reverse("api-keys")).content.decode()
    once = re.search(r'name="once" value="([0-9a-f]+)"', page).group(1)
    response = client.post(reverse("api-keys"), {"name": "  ", "once": once})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not ApiKey.objects.filter(owner=person).exists()
