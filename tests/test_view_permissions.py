import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import HMISAccountFactory, MembershipFactory, OrganizationFactory, StaffFactory, UserFactory
from tests.view_permissions import EXEMPT, PERSONAS, all_cases

CASES = all_cases()
COC_GROUPS = ("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin")


def portal_url_names():
    """Every named URL of the portal's own apps (not the admin)."""
    names = set()

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    continue
                ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, ns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}{pattern.name}")

    walk(get_resolver().url_patterns)
    return names


def test_every_portal_view_has_a_permission_case():
    covered = {case.url_name for case in CASES} | set(EXEMPT)
    missing = sorted(portal_url_names() - covered)
    assert not missing, f"Views with no case in tests/<app>/view_cases.py: {missing}"


def _request(client, case, kwargs):
    url = reverse(case.url_name, kwargs=kwargs)
    if case.method == "post":
        return url, client.post(url, case.data(kwargs))
    return url, client.get(url)


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_anonymous_is_sent_to_sign_in(client, case):
    organization = OrganizationFactory()
    url, response = _request(client, case, case.build(organization))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login")), url


@pytest.mark.django_db
@pytest.mark.parametrize("case", [c for c in CASES if c.agency_object], ids=lambda c: c.id)
def test_other_agency_gets_404(client, case):
    organization, elsewhere = OrganizationFactory(), OrganizationFactory()
    kwargs = case.build(organization)
    outsider = UserFactory()
    for persona in PERSONAS:
        MembershipFactory(user=outsider, organization=elsewhere, persona=persona)
    # Granted, active HMIS access in a role that works referrals, at their own agency only.
    HMISAccountFactory(user=outsider, organization=elsewhere, hmis_role="CES_Housing_Provider")
    client.force_login(outsider)
    _, response = _request(client, case, kwargs)
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_member_allowed_only_with_the_right_persona(client, case, persona):
    organization = OrganizationFactory()
    kwargs = case.build(organization)
    client.force_login(MembershipFactory(organization=organization, persona=persona).user)
    url, response = _request(client, case, kwargs)
    if case.allows(persona):
        assert response.status_code in (200, 302), f"{persona} should reach {url}: {response.status_code}"
        if response.status_code == 302:
            assert not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code in (403, 404), f"{persona} must not reach {url}"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", [c for c in CASES if c.with_hmis_access], ids=lambda c: c.id)
def test_member_with_hmis_access_allowed_only_where_the_case_says(client, case, persona):
    organization = OrganizationFactory()
    kwargs = case.build(organization)
    person = MembershipFactory(organization=organization, persona=persona).user
    HMISAccountFactory(user=person, organization=organization, hmis_role="CES_Housing_Provider")
    client.force_login(person)
    url, response = _request(client, case, kwargs)
    if case.allows(persona, hmis_access=True):
        assert response.status_code in (200, 302), f"{persona} with HMIS access should reach {url}: " \
                                                    f"{response.status_code}"
        if response.status_code == 302:
            assert not response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code in (403, 404), f"{persona} with HMIS access must not reach {url}"


@pytest.mark.django_db
@pytest.mark.parametrize("group", COC_GROUPS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_coc_staff_allowed_only_in_the_right_group(client, case, group):
    organization = OrganizationFactory()
    kwargs = case.build(organization)
    client.force_login(StaffFactory(groups=[group]))
    url, response = _request(client, case, kwargs)
    if group in case.coc_groups:
        assert response.status_code in (200, 302), f"{group} should reach {url}: {response.status_code}"
    else:
        assert response.status_code in (403, 404), f"{group} must not reach {url}"
