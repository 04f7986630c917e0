"""Long lists are paged: the agency's HMIS users and the CES Participation
Status List cost the same queries at 10 rows as at 1,000 (the downloads keep
every row). Every page of every persona measured here costs at most
MAX_QUERIES queries, at 10 rows and at 1,000."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Organization, User
from hmis_access.models import AccessRequest
from tests.factories import StaffFactory
from tests.scale import at_10_and_1000, grow, rolled_back, warm_then_measured
from tests.two_factor import PortalClient as Client
from tests.training.factories import manager_of, participating

pytestmark = pytest.mark.django_db

# The most queries any list or agency page may cost, whatever its size.
MAX_QUERIES = 12


def _get(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(captured)


def _warm_count(client, url):
    """(status, queries, their SQL) of a warm request for `url`
    (`tests.scale.warm_then_measured`). An error is kept as its text, for the
    test of that page to report."""
    try:
        response, captured = warm_then_measured(client, url)
    except Exception as error:  # noqa: BLE001 - reported by the test of this page, not by every test
        return f"{url}: {error!r}", 0, []
    return response.status_code, len(captured), [query["sql"][:300] for query in captured.captured_queries]


def _counted(what, sizes) -> list[tuple[int, list[str]]]:
    """The (queries, their SQL) at 10 rows and at 1,000, each a 200."""
    for status, _count, _queries in sizes:
        assert status == 200, f"{what}: {status}"
    return [(count, queries) for _status, count, queries in sizes]


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
    # The first request after a change draws the kept page again: its rows in two round trips more.
    first, drawn = _get(client, url)
    assert first.content.decode().count("Paged Agency") == 100
    assert drawn <= at_10 + 2
    _, at_1000 = _get(client, url)
    assert at_1000 == at_10
    second, _ = _get(client, url + "?q=Paged&page=2")
    assert "Paged Agency 0100" in second.content.decode() and "Paged Agency 0099" not in second.content.decode()
    assert "q=Paged&amp;page=3" in second.content.decode()
    # Unfiltered, the page is read by the statement kept for the whole list: the same rows and count.
    whole = _get(client, url + "?page=2")[0].content.decode()
    assert "Paged Agency 0100" in whole and "Paged Agency 0099" not in whole and "Paged Agency 0200" not in whole
    assert "<caption>1000 organizations</caption>" in whole
    past = _get(client, url + "?page=11")[0].content.decode()
    assert "Paged Agency 0999" in past and "<caption>1000 organizations</caption>" in past
    csv = client.get(reverse("onboarding:status-list-csv")).getvalue().decode()
    assert csv.count("Paged Agency") == 1000


# --- every list at 10 rows and at 1,000 ----------------------------------------

ALL_GROUPS = ["CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin"]
# One row by design (the CoC's settings), or the CoC's own short lists of
# policy (tens of rows, loaded from a policy pack): no 1,000-row case.
NOT_LONG = {"signin.signinpolicy", "core.mailpolicy", "onboarding.onboardingpolicy", "hmis_access.accesspolicy",
            "referrals.referralpolicy", "onboarding.programtype", "onboarding.cesorganizationrole",
            "onboarding.organizationcesrole", "training.course", "training.cesrole", "training.accesscapability",
            "training.requiredform", "referrals.needstatus", "partnerships.partnershippolicy",
            # Blank versions of the agreement and of each form: a few a year.
            "onboarding.agreementtemplate", "training.formtemplate"}


def _admin_models():
    from django.contrib import admin

    from tests.test_admin_permissions import OURS

    return sorted(model._meta.label_lower for model in admin.site._registry if model._meta.app_label in OURS)


def test_every_admin_list_is_measured_or_named_as_short():
    assert NOT_LONG <= set(_admin_models())


def _portal_lists(organization):
    """(name, who, url) of each portal list and agency page not measured elsewhere."""
    from tests.referrals.factories import matcher
    from tests.training.factories import manager_of

    provisioner = StaffFactory(groups=["CoC provisioning"])
    manager = manager_of(organization)
    slug = organization.slug
    from tests.factories import MembershipFactory

    administrator = MembershipFactory(organization=organization, persona="agency_administrator").user
    director = MembershipFactory(organization=organization, persona="executive_director").user
    implementation = StaffFactory(groups=["CoC implementation"])
    return [
        ("CoC queue", implementation, reverse("onboarding:coc-queue")),
        ("agency participation", manager, reverse("onboarding:participation", args=[slug])),
        ("agency participation (Executive Director)", director, reverse("onboarding:participation", args=[slug])),
        ("agency participation (CoC staff)", StaffFactory(groups=ALL_GROUPS),
         reverse("onboarding:participation", args=[slug])),
        ("agency page", manager, reverse("organization-detail", args=[slug])),
        ("agency page (Agency Administrator)", administrator, reverse("organization-detail", args=[slug])),
        ("agency page (CoC staff)", implementation, reverse("organization-detail", args=[slug])),
        ("agency users", manager, reverse("agency-users", args=[slug])),
        ("agency users (Agency Administrator)", administrator, reverse("agency-users", args=[slug])),
        ("agency users (CoC staff)", provisioner, reverse("agency-users", args=[slug])),
        ("agency partnerships", director, reverse("partnerships:agency", args=[slug])),
        ("participation status list", implementation, reverse("onboarding:status-list")),
        ("participation status list (Program Manager)", manager, reverse("onboarding:status-list")),
        ("agency search", implementation, reverse("agency-search") + "?q=Grown"),
        ("training sessions", administrator, reverse("training:sessions")),
        ("HMIS accounts (CoC)", provisioner, reverse("hmis-accounts-dashboard")),
        ("agency HMIS accounts", administrator, reverse("agency-hmis-accounts", args=[slug])),
        ("provisioning queue", provisioner, reverse("provisioning-queue")),
        ("provisioning timeliness", provisioner, reverse("provisioning-sla")),
        ("provider scorecard", matcher(), reverse("referrals:providers")),
    ]


PORTAL_LISTS = ["CoC queue", "agency participation", "agency participation (Executive Director)",
                "agency participation (CoC staff)", "agency page", "agency page (Agency Administrator)",
                "agency page (CoC staff)", "agency users", "agency users (Agency Administrator)",
                "agency users (CoC staff)", "agency partnerships", "participation status list",
                "participation status list (Program Manager)", "agency search", "training sessions",
                "HMIS accounts (CoC)", "agency HMIS accounts", "provisioning queue", "provisioning timeliness",
                "provider scorecard"]


@pytest.fixture(scope="module")
def portal_list_measures(django_db_setup, django_db_blocker):
    """Each portal list's queries at 10 rows and at 1,000, every list measured
    in the same rows, grown once for all of them (`tests.scale.rolled_back`)."""
    from tests.factories import OrganizationFactory

    def measure():
        organization = OrganizationFactory()
        participating(organization, "permanent-housing")
        pages, clients = {}, {}
        for name, user, url in _portal_lists(organization):
            pages[name], clients[name] = url, Client()
            clients[name].force_login(user)
        return at_10_and_1000(organization, lambda: {name: _warm_count(clients[name], url)
                                                     for name, url in pages.items()})

    with django_db_blocker.unblock():
        return rolled_back(measure)


# Each measure's tests in one process, which grows the rows once (a group of its own).
@pytest.mark.xdist_group("portal-lists")
@pytest.mark.parametrize("page", PORTAL_LISTS)
def test_every_portal_list_costs_the_same_at_10_and_1000_rows(portal_list_measures, page):
    (at_10, _), (at_1000, _) = _counted(page, portal_list_measures[page])
    assert at_1000 <= at_10, f"{page}: {at_10} queries at 10 rows, {at_1000} at 1,000"
    assert max(at_10, at_1000) <= MAX_QUERIES, \
        f"{page}: {at_10} queries at 10 rows, {at_1000} at 1,000"


def test_every_portal_list_is_measured():
    from tests.factories import OrganizationFactory

    assert [name for name, _, _ in _portal_lists(OrganizationFactory())] == PORTAL_LISTS


# --- every admin list and form at 10 rows and at 1,000 -----------------------------


def _admin_form_urls(model, staff):
    """The add form (where `staff` may add) and the change form of the model's first row."""
    from types import SimpleNamespace

    from django.contrib import admin

    meta = model._meta
    urls = []
    if admin.site._registry[model].has_add_permission(SimpleNamespace(user=staff)):
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    first = model.objects.order_by("pk").first()
    if first is not None:
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))
    return urls


def _ces_role(organization):
    from onboarding.models import CESOrganizationRole, OrganizationCESRole

    OrganizationCESRole.objects.create(organization=organization, role=CESOrganizationRole.objects.order_by("pk")[0])


# Rows `grow` makes none of, and the admin adds none of: one, so that its change form is measured.
ONE_ROW = {"onboarding.organizationcesrole": _ces_role}


@pytest.fixture(scope="module")
def admin_measures(django_db_setup, django_db_blocker):
    """Each admin model's list (unless it is short by nature), add form where
    staff may add, and the change form of its first row, at 10 rows and at
    1,000: every model measured in the same rows, grown once for all of them
    (`rolled_back`). {label: ({url: [at 10, at 1,000]}, the model's rows at 1,000)}."""
    from django.apps import apps
    from tests.factories import OrganizationFactory

    def measure():
        organization = OrganizationFactory()
        staff = StaffFactory(groups=ALL_GROUPS)
        client = Client()
        client.force_login(staff)
        grow(organization, 0, 10)
        for make in ONE_ROW.values():
            make(organization)
        urls = {}
        for label in _admin_models():
            meta = apps.get_model(label)._meta
            urls[label] = _admin_form_urls(apps.get_model(label), staff) + (
                [] if label in NOT_LONG else [reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")])
        measures = {label: {url: [_warm_count(client, url)] for url in found} for label, found in urls.items()}
        grow(organization, 10, 1000)
        rows = {label: apps.get_model(label).objects.count() for label in urls}
        for label, found in urls.items():
            for url in found:
                measures[label][url].append(_warm_count(client, url))
        return {label: (measures[label], rows[label]) for label in urls}

    with django_db_blocker.unblock():
        return rolled_back(measure)


@pytest.mark.xdist_group("admin-lists")
@pytest.mark.parametrize("label", _admin_models())
def test_every_admin_list_and_form_costs_the_same_at_10_and_1000_rows(admin_measures, label):
    """The model's list (unless it is short by nature), its add form where
    staff may add, and the change form of a row; the rows are grown once for all models."""
    measured, rows = admin_measures[label]
    assert measured, f"{label}: no list, no add form and no row to change"
    if label not in NOT_LONG:
        assert rows >= 150, label  # reactivation requests: one in six accounts
    over = []
    for url, sizes in measured.items():
        (at_10, _), (at_1000, queries) = _counted(url, sizes)
        if at_1000 > at_10 or max(at_10, at_1000) > MAX_QUERIES:
            over.append(f"{url}: {at_10} queries at 10 rows, {at_1000} at 1,000:\n  " + "\n  ".join(queries[:20]))
    assert not over, "\n".join(over)
