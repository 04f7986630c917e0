"""The CES Participation Status List's unfiltered pages are drawn once and
kept (core.cached) until something they show changes, and for the day:
every change made through the portal or the admin is on the next request,
and the stages move on at the CoC's midnight."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Organization
from hmis_portal.core.prepared import statement_of
from onboarding.models import CESOrganizationRole, OrganizationAgreement, OrganizationCESRole, Program
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory, ProgramFactory, executed_agreement

pytestmark = pytest.mark.django_db

URL = reverse("onboarding:status-list")


def _page(client, path=URL):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return response.content.decode(), " ".join(statement_of(connection, query["sql"])
                                               for query in captured.captured_queries)


@pytest.fixture
def agency():
    agency = OrganizationFactory(name="Alder Street Housing")
    executed_agreement(agency)
    ProgramFactory(organization=agency, name="Alder Shelter", setup_status=Program.SetupStatus.SETUP_COMPLETE)
    return agency


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory(groups=["CoC implementation"]))
    return client


def test_a_page_drawn_once_reads_no_agency_again_until_one_changes(staff_client, agency):
    first, asked = _page(staff_client)
    assert "Alder Shelter" in first and "onboarding_program" in asked
    again, asked = _page(staff_client)
    assert again == first.replace(_token(first), _token(again))
    assert "onboarding_program" not in asked and "accounts_organization" not in asked
    # A filtered list is the filters' own: read each time.
    _, asked = _page(staff_client, URL + "?q=Alder")
    assert "onboarding_program" in asked


def _token(page):
    """The sign-out form's CSRF token: masked anew on every page."""
    start = page.index('name="csrfmiddlewaretoken" value="') + len('name="csrfmiddlewaretoken" value="')
    return page[start:page.index('"', start)]


def _drawn_anew():
    """The first page's rows as drawing them now gives them, nothing kept."""
    from hmis_portal.core.calendar import local_date
    from onboarding.views import _drawn_status_page

    _count, _number, cells = _drawn_status_page({"organizations": Organization.objects.all(), "stage": ""}, 1,
                                                local_date())
    return [(row.name, row.rest) for row in cells]


def _rename_agency(agency):
    agency.name = "Alder Street Homes"
    agency.save()


def _new_agency(agency):
    OrganizationFactory(name="Birch Family Services")


def _agencies_added_at_once(agency):
    Organization.objects.bulk_create([Organization(name="Cedar Outreach", slug="cedar-outreach")])


def _agreement_returned(agency):
    OrganizationAgreement.objects.filter(organization=agency).delete()
    AgreementFactory(organization=agency, status=OrganizationAgreement.Status.RETURNED, return_reason="Page 2")


def _agreements_terminated_at_once(agency):
    OrganizationAgreement.objects.filter(organization=agency).update(status=OrganizationAgreement.Status.TERMINATED)


def _program_confirmed(agency):
    program = agency.programs.get()
    program.setup_status = Program.SetupStatus.CONFIRMED
    program.save()


def _program_removed(agency):
    agency.programs.get().delete()


def _ces_role_named(agency):
    role = CESOrganizationRole.objects.order_by("pk").first()
    OrganizationCESRole.objects.bulk_create([OrganizationCESRole(organization=agency, role=role)])


def _program_type_renamed(agency):
    kind = agency.programs.get().program_type
    kind.name = "Night Shelter"
    kind.save()


CHANGES = [_rename_agency, _new_agency, _agencies_added_at_once, _agreement_returned,
           _agreements_terminated_at_once, _program_confirmed, _program_removed, _ces_role_named,
           _program_type_renamed]


@pytest.mark.parametrize("change", CHANGES, ids=[change.__name__.lstrip("_") for change in CHANGES])
def test_each_change_is_on_the_next_request(staff_client, agency, change):
    _page(staff_client)
    before, _ = _page(staff_client)
    drawn_before = _drawn_anew()
    change(agency)
    drawn = _drawn_anew()
    assert drawn != drawn_before
    after, asked = _page(staff_client)
    assert "onboarding_program" in asked
    for name, rest in drawn:
        assert name in after and rest in after
    assert any(rest not in before for _name, rest in drawn) or any(name not in before for name, _rest in drawn)


def test_a_role_renamed_is_on_the_next_request(staff_client, agency):
    role = CESOrganizationRole.objects.order_by("pk").first()
    OrganizationCESRole.objects.create(organization=agency, role=role)
    assert f"<td>{role.name}</td>" in _page(staff_client)[0]
    role.name = "Front Door"
    role.save()
    assert "<td>Front Door</td>" in _page(staff_client)[0]


def test_the_stages_move_on_at_the_coc_s_midnight(staff_client):
    """An agreement that ends today is in force until the day is over, then
    expired: the page kept today is not shown tomorrow."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    evening = dt.datetime(2026, 11, 20, 23, 50, tzinfo=zone)
    with time_machine.travel(evening, tick=False):
        agency = OrganizationFactory(name="Dogwood Executed")
        executed_agreement(agency, expires_on=evening.date())
        today, _ = _page(staff_client)
        assert ">Agreement executed</span>" in today
    with time_machine.travel(evening + dt.timedelta(minutes=20), tick=False):
        tomorrow, asked = _page(staff_client)
    assert ">Agreement expired (renewal needed)</span>" in tomorrow and "onboarding_program" in asked


def test_a_page_kept_for_one_person_links_only_the_agencies_each_may_open(staff_client, agency):
    from django.test import Client

    other = OrganizationFactory(name="Elm Community")
    staff_page, _ = _page(staff_client)
    participation = reverse("onboarding:participation", args=[agency.slug])
    assert f'href="{participation}"' in staff_page
    assert f'href="{reverse("onboarding:participation", args=[other.slug])}"' in staff_page
    manager = Client()
    manager.force_login(MembershipFactory(organization=other, persona="program_manager").user)
    manager_page, asked = _page(manager)
    assert "onboarding_program" not in asked  # the staff member's drawing
    assert "Alder Street Housing" in manager_page and f'href="{participation}"' not in manager_page
    assert f'href="{reverse("onboarding:participation", args=[other.slug])}"' in manager_page


def test_the_kept_pages_are_the_first_ones_and_a_page_past_the_last_is_the_last(staff_client, agency):
    from onboarding.views import STATUS_LIST_KEPT_PAGES

    Organization.objects.bulk_create([Organization(name=f"Paged Agency {n:04d}", slug=f"paged-agency-{n}")
                                      for n in range(250)])
    last, _ = _page(staff_client, URL + "?page=3")
    assert "Paged Agency 0249" in last and "201–251 of 251" in last
    past, _ = _page(staff_client, URL + "?page=7")
    assert past.replace(_token(past), "") == last.replace(_token(last), "")
    # Far past the kept pages: drawn on each request, and the same last page.
    far, asked = _page(staff_client, URL + f"?page={STATUS_LIST_KEPT_PAGES + 1}")
    assert far.replace(_token(far), "") == last.replace(_token(last), "") and "onboarding_program" in asked
