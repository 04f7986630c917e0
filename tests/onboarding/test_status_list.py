import contextlib
import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import Organization
from hmis_portal.core.work import open_tasks_for
from onboarding.models import CESOrganizationRole, OnboardingPolicy, OrganizationCESRole, Program, ProgramType
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.onboarding.factories import AgreementFactory, ProgramFactory, executed_agreement

pytestmark = pytest.mark.django_db


def build_agencies():
    participating = OrganizationFactory(name="Alder Street Housing")
    executed_agreement(participating)
    ProgramFactory(organization=participating, name="Alder PSH", setup_status="confirmed",
                   program_type=ProgramType.objects.get(code="permanent-housing"))
    ProgramFactory(organization=participating, name="Alder Shelter", setup_status="in_progress")
    OrganizationCESRole.objects.create(organization=participating,
                                       role=CESOrganizationRole.objects.get(code="housing-provider"))
    submitted = OrganizationFactory(name="Birch Family Services")
    AgreementFactory(organization=submitted)
    cypress, _ = Organization.objects.get_or_create(name="Cypress Outreach")
    return participating, submitted, cypress


@pytest.fixture
def reader():
    """A member of one of the listed agencies (so no extra agency appears)."""
    return MembershipFactory(organization__name="Cypress Outreach", persona="staff").user


def test_anonymous_people_sign_in_unless_coc_staff_make_the_list_public(client):
    build_agencies()
    for name in ("status-list", "status-list-xlsx", "status-list-csv"):
        assert client.get(reverse(f"onboarding:{name}"))["Location"].startswith(reverse("login"))
    policy = OnboardingPolicy.current()
    policy.status_list_public = True
    policy.save()
    response = client.get(reverse("onboarding:status-list"))
    assert response.status_code == 200 and "Alder Street Housing" in response.content.decode()
    assert client.get(reverse("onboarding:status-list-xlsx")).status_code == 200


def test_the_list_shows_roles_programs_and_stage_and_filters(client, reader):
    build_agencies()
    client.force_login(reader)

    def listed(**query):
        # The list itself, not the menu (which names the reader's own agencies).
        content = client.get(reverse("onboarding:status-list"), query).content.decode()
        return content[content.index('<main'):]

    page = listed()
    assert "Housing Provider" in page and "Alder PSH" in page and "Participating" in page
    assert "Agreement submitted" in page
    page = listed(**{"q": "birch"})
    assert "Birch Family Services" in page and "Alder Street Housing" not in page
    page = listed(**{"stage": "not_started"})
    assert "Cypress Outreach" in page and "Birch Family Services" not in page
    page = listed(**{"role": "housing-provider"})
    assert "Alder Street Housing" in page and "Cypress Outreach" not in page
    page = listed(**{"program_type": "permanent-housing"})
    assert "Alder Street Housing" in page and "Birch Family Services" not in page


def test_the_list_takes_a_constant_number_of_queries(client, reader, django_assert_max_num_queries):
    build_agencies()
    client.force_login(reader)
    with django_assert_max_num_queries(14) as few:
        client.get(reverse("onboarding:status-list"))
    for n in range(15):
        organization = OrganizationFactory()
        executed_agreement(organization)
        ProgramFactory(organization=organization)
        OrganizationCESRole.objects.create(organization=organization, role=CESOrganizationRole.objects.first())
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("onboarding:status-list"))
    assert response.content.decode().count('scope="row"') == Organization.objects.count()


def test_the_xlsx_download_is_laid_out_like_the_cocs_spreadsheet(client, reader):
    build_agencies()
    client.force_login(reader)
    with time_machine.travel(dt.datetime(2026, 11, 20, 18, tzinfo=dt.UTC)):
        response = client.get(reverse("onboarding:status-list-xlsx"))
    assert response["Content-Disposition"] == 'attachment; filename="CES_Participation_Status_2026-11-20.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet["A1"].value == "CES Participation Status List"
    assert sheet["A2"].value == "As of November 20, 2026"
    assert [c.value for c in sheet[3]] == ["Organization", "CES Role(s)", "Program", "Program Type",
                                          "Program Setup Status", "Organization Agreement", "Participation Stage"]
    assert sheet.freeze_panes == "A4"
    assert sheet["A3"].font.bold and sheet.column_dimensions["A"].width == 40
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows(min_row=4)]
    assert rows == [
        ("Alder Street Housing", "Housing Provider", "Alder PSH", "Permanent Housing", "Confirmed", "Executed",
         "Participating"),
        ("Alder Street Housing", "Housing Provider", "Alder Shelter", "Emergency Shelter", "Setup in progress",
         "Executed", "Participating"),
        ("Birch Family Services", None, None, None, None, "Submitted, awaiting CoC countersignature",
         "Agreement submitted"),
        ("Cypress Outreach", None, None, None, None, "No agreement", "Not started"),
    ]
    filtered = client.get(reverse("onboarding:status-list-xlsx"), {"stage": "participating"})
    sheet = load_workbook(io.BytesIO(filtered.content)).active
    assert [row[0].value for row in sheet.iter_rows(min_row=4)] == ["Alder Street Housing"] * 2


def test_the_csv_download_has_the_same_rows(client, reader):
    build_agencies()
    client.force_login(reader)
    response = client.get(reverse("onboarding:status-list-csv"))
    rows = list(csv.reader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
    assert rows[0][0] == "Organization" and len(rows) == 5
    assert rows[3] == ["Birch Family Services", "", "", "", "", "Submitted, awaiting CoC countersignature",
                       "Agreement submitted"]


def test_coc_staff_see_their_queues_with_age_in_business_days(client):
    with time_machine.travel(dt.datetime(2026, 11, 20, 18, tzinfo=dt.UTC)):  # Friday Nov 20
        agreement = AgreementFactory()
        program = ProgramFactory(setup_status=Program.SetupStatus.REQUESTED)
    implementer = StaffFactory(groups=["CoC implementation"])
    # Thanksgiving (Thu Nov 26) is not a business day: Mon, Tue, Wed, Fri = 4.
    with time_machine.travel(dt.datetime(2026, 11, 27, 20, tzinfo=dt.UTC)):
        client.force_login(implementer)
        page = client.get(reverse("onboarding:coc-queue")).content.decode()
        tasks = open_tasks_for(implementer)
    assert f"{agreement.organization} — Organization Agreement" in page
    assert f"{program.organization} — {program.name}" in page
    assert "<td>4</td>" in page
    assert [t.title for t in tasks] == ["1 Organization Agreement to countersign",
                                        "1 program setup request to work"]
    assert tasks[0].detail == "Oldest waiting 4 business days."
    # Training staff do not countersign (agreements are the implementation team's).
    assert open_tasks_for(StaffFactory(groups=["CoC training"])) == []
    assert open_tasks_for(StaffFactory(groups=["CES team"])) == []


def test_agency_staff_see_what_waits_on_them(organization):
    director = MembershipFactory(organization=organization, persona="executive_director").user
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    staff = MembershipFactory(organization=organization, persona="staff").user
    assert [t.title for t in open_tasks_for(director)] == [
        f"Sign and upload the Organization Agreement — {organization}"]
    assert open_tasks_for(manager) == [] and open_tasks_for(staff) == []
    agreement = AgreementFactory(organization=organization, status="returned", return_reason="Unsigned page 2")
    [task] = open_tasks_for(director)
    assert task.title.startswith("Upload a corrected Organization Agreement") and "Unsigned page 2" in task.detail
    agreement.status = "executed"
    agreement.save()
    assert {t.title.split(" — ")[0] for t in open_tasks_for(manager)} == {
        "Name the organization's CES roles", "Request HMIS program setup"}
    ProgramFactory(organization=organization, name="Oak Shelter", setup_status="needs_information",
                   question="Bed count?")
    ProgramFactory(organization=organization, name="Oak Apartments", setup_status="setup_complete")
    titles = {t.title.split(" — ")[0] for t in open_tasks_for(manager)}
    assert {"Answer the implementation team about Oak Shelter", "Confirm the setup of Oak Apartments"} <= titles
    assert open_tasks_for(director) == []


def test_the_renewal_shows_on_the_directors_home_page_before_expiry(organization):
    director = MembershipFactory(organization=organization, persona="executive_director").user
    executed_agreement(organization, expires_on=dt.date.today() + dt.timedelta(days=20))
    [task] = open_tasks_for(director)
    assert task.title.startswith("Renew the Organization Agreement")
    assert task.due == dt.date.today() + dt.timedelta(days=20)


def test_an_agency_person_s_own_agencies_are_linked_from_their_standing_without_a_query(client):
    """The rows of the reader's own agencies link to their participation
    pages, the others do not; which are their own is known from the memberships
    the request has read already (`access.standing`), not asked again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    participating, submitted, _ = build_agencies()
    reader = MembershipFactory(organization=participating, persona="program_manager").user
    client.force_login(reader)
    url = reverse("onboarding:status-list")
    client.get(url)  # warm: the standing is read once and kept
    with CaptureQueriesContext(connection) as counted:
        page = client.get(url).content.decode()
    assert f'<a href="{reverse("onboarding:participation", args=[participating.slug])}">Alder Street Housing</a>' in page
    assert ">Birch Family Services</th>" in page and reverse("onboarding:participation", args=[submitted.slug]) not in page
    assert not [query["sql"] for query in counted.captured_queries if "accounts_membership" in query["sql"]]


@pytest.mark.parametrize("number", [None, "1", "2", "3", "99", "0", "-1", "x", "1.5", "2.0", "9" * 20])
@pytest.mark.parametrize("filtered", [False, True])
def test_a_page_of_the_list_is_the_paginator_s_page_of_every_row_counted_in_the_query_that_reads_it(
        number, filtered, django_assert_num_queries):
    """The page's organizations are counted in the query that reads them: a
    page in range is two queries whatever the list's length (its rows, then
    their agreements, programs and roles asked together); one past the last
    (or below the first, or past any list) shows the last, as Django's
    paginator does."""
    from django.core.paginator import Paginator
    from django.db import connection

    from onboarding import selectors

    build_agencies()
    Organization.objects.bulk_create([Organization(name=f"Paged Agency {n:03d}", slug=f"paged-{n}")
                                      for n in range(247)])
    organizations = Organization.objects.exclude(name="") if filtered else Organization.objects.all()
    whole = Paginator(selectors.status_list(organizations=organizations), 100).get_page(number)
    # In range; past the last: the empty page read, a count, the last page and its rows; below the first
    # (or past any list): a count, the last page and its rows.
    # (Counted on PostgreSQL, where questions are asked together.)
    queries = {"99": 4, "0": 3, "-1": 3, "9" * 20: 3}.get(number, 2)
    with django_assert_num_queries(queries) if connection.vendor == "postgresql" else contextlib.nullcontext():
        page = selectors.status_list_page(organizations=organizations, number=number, per_page=100)
    assert (page.number, page.paginator.count, page.paginator.num_pages) == (
        whole.number, whole.paginator.count, whole.paginator.num_pages) == (whole.number, 250, 3)
    assert [(row.pk, row.stage, row.roles, row.programs) for row in page.object_list] == [
        (row.pk, row.stage, row.roles, row.programs) for row in whole.object_list]
