"""The status list's downloads keep their columns and contents, cell for
cell, for a fixed set of agencies at every stage: the rows below were taken
from the downloads as they were built from model objects, before they were
read as plain values in chunks. Each download is read in chunks smaller than
the list too, so a chunk's edge loses or repeats no agency."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from onboarding import selectors
from accounts.models import Organization
from onboarding.models import CESOrganizationRole, OrganizationAgreement, OrganizationCESRole, ProgramType
from tests.factories import MembershipFactory, OrganizationFactory
from tests.onboarding.factories import AgreementFactory, ProgramFactory, executed_agreement

pytestmark = pytest.mark.django_db

Status = OrganizationAgreement.Status
MOMENT = dt.datetime(2026, 11, 20, 18, tzinfo=dt.UTC)


def build_every_stage():
    def role(code):
        return CESOrganizationRole.objects.get(code=code)

    def kind(code):
        return ProgramType.objects.get(code=code)

    day = dt.date(2026, 11, 20)
    alder = OrganizationFactory(name="Alder Street Housing")
    executed_agreement(alder)
    ProgramFactory(organization=alder, name="Alder Shelter", setup_status="in_progress")
    ProgramFactory(organization=alder, name="Alder PSH", setup_status="confirmed",
                   program_type=kind("permanent-housing"))
    for code in ("housing-provider", "assessment-only"):
        OrganizationCESRole.objects.create(organization=alder, role=role(code))
    birch = OrganizationFactory(name="Birch Family Services")
    AgreementFactory(organization=birch)
    cedar = OrganizationFactory(name="Cedar Program Setup")
    executed_agreement(cedar, expires_on=day + dt.timedelta(days=30))
    ProgramFactory(organization=cedar, name="Cedar Outreach", setup_status="needs_information")
    ProgramFactory(organization=cedar, name="Cedar Beds", setup_status="setup_complete")
    OrganizationCESRole.objects.create(organization=cedar, role=role("housing-navigation"))
    dogwood = OrganizationFactory(name="Dogwood Executed")
    executed_agreement(dogwood)
    elm = OrganizationFactory(name="Elm Returned")
    AgreementFactory(organization=elm, status=Status.RETURNED, return_reason="Unsigned page 2")
    fir = OrganizationFactory(name="Fir Expired")
    executed_agreement(fir, expires_on=day - dt.timedelta(days=3))
    ProgramFactory(organization=fir, name="Fir Confirmed", setup_status="confirmed", submitted_agreement=False)
    ginkgo = OrganizationFactory(name="Ginkgo Terminated")
    executed_agreement(ginkgo, status_changed_at=MOMENT - dt.timedelta(days=40))
    OrganizationAgreement.objects.filter(organization=ginkgo).update(status=Status.TERMINATED)
    AgreementFactory(organization=ginkgo, status=Status.EXPIRED, status_changed_at=MOMENT - dt.timedelta(days=90))
    hazel = OrganizationFactory(name="Hazel Draft")
    AgreementFactory(organization=hazel, status=Status.DRAFT)
    iris = OrganizationFactory(name="Iris Renewing")
    executed_agreement(iris, created_at=MOMENT - dt.timedelta(days=300))
    AgreementFactory(organization=iris, status=Status.SUBMITTED, created_at=MOMENT - dt.timedelta(days=1))
    ProgramFactory(organization=iris, name="=HYPERLINK(\"x\")", setup_status="confirmed")
    OrganizationFactory(name="=Juniper Not Started")
    return MembershipFactory(organization=OrganizationFactory(name="Cypress Outreach"), persona="staff").user


# The list's rows as the downloads were before (cells None in the workbook
# are empty strings in the CSV; a formula-like text is quoted there).
HEADER = ('Organization', 'CES Role(s)', 'Program', 'Program Type', 'Program Setup Status', 'Organization Agreement', 'Participation Stage')
ROWS = [
    ('=Juniper Not Started', None, None, None, None, 'No agreement', 'Not started'),
    ('Alder Street Housing', 'Assessment Only; Housing Provider', 'Alder PSH', 'Permanent Housing', 'Confirmed', 'Executed', 'Participating'),
    ('Alder Street Housing', 'Assessment Only; Housing Provider', 'Alder Shelter', 'Emergency Shelter', 'Setup in progress', 'Executed', 'Participating'),
    ('Birch Family Services', None, None, None, None, 'Submitted, awaiting CoC countersignature', 'Agreement submitted'),
    ('Cedar Program Setup', 'Housing Navigation/Case Management', 'Cedar Beds', 'Emergency Shelter', "Setup complete, awaiting the agency's confirmation", 'Executed', 'Program setup in progress'),
    ('Cedar Program Setup', 'Housing Navigation/Case Management', 'Cedar Outreach', 'Emergency Shelter', 'Needs information from the agency', 'Executed', 'Program setup in progress'),
    ('Cypress Outreach', None, None, None, None, 'No agreement', 'Not started'),
    ('Dogwood Executed', None, None, None, None, 'Executed', 'Agreement executed'),
    ('Elm Returned', None, None, None, None, 'Returned to the agency for correction', 'Agreement returned for correction'),
    ('Fir Expired', None, 'Fir Confirmed', 'Emergency Shelter', 'Confirmed', 'Executed', 'Agreement expired (renewal needed)'),
    ('Ginkgo Terminated', None, None, None, None, 'Expired', 'Agreement terminated by the CoC'),
    ('Hazel Draft', None, None, None, None, 'Draft (not yet submitted)', 'Agreement in draft'),
    ('Iris Renewing', None, '=HYPERLINK("x")', 'Emergency Shelter', 'Confirmed', 'Submitted, awaiting CoC countersignature', 'Participating'),
]


def _downloads(client):
    with time_machine.travel(MOMENT, tick=False):
        csv_response = client.get(reverse("onboarding:status-list-csv"))
        xlsx_response = client.get(reverse("onboarding:status-list-xlsx"))
    assert csv_response.streaming  # sent as it is read, a chunk of agencies at a time
    body = csv_response.getvalue()
    csv_rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(xlsx_response.content)).active
    xlsx_rows = [tuple(cell.value for cell in row) for row in sheet.iter_rows()]
    return csv_rows, xlsx_rows, sheet


def _csv_cells(row):
    return ["" if value is None else ("'" + value if value.startswith("=") else value) for value in row]


@pytest.mark.parametrize("chunk", [selectors.STATUS_CHUNK, 5, 1])
def test_the_downloads_keep_every_column_and_cell(client, monkeypatch, chunk):
    client.force_login(build_every_stage())
    monkeypatch.setattr(selectors, "STATUS_CHUNK", chunk)
    csv_rows, xlsx_rows, sheet = _downloads(client)
    assert csv_rows == [list(HEADER), *(_csv_cells(row) for row in ROWS)]
    assert xlsx_rows[:3] == [("CES Participation Status List", *[None] * 6), ("As of November 20, 2026", *[None] * 6),
                             HEADER]
    assert xlsx_rows[3:] == ROWS
    assert sheet.freeze_panes == "A4" and sheet.auto_filter.ref == f"A3:G{3 + len(ROWS)}"
    assert [sheet.column_dimensions[letter].width for letter in "ABCDEFG"] == [40, 45, 40, 34, 30, 38, 28]
    assert sheet["A1"].font.bold and sheet["A1"].font.size == 14 and sheet["A2"].font.italic
    assert all(cell.font.bold and cell.fill.fgColor.rgb.endswith("1F4E78") for cell in sheet[3])
    assert all(cell.data_type == "s" for row in sheet.iter_rows(min_row=4) for cell in row if cell.value)


def test_a_filtered_download_keeps_the_same_rows_of_its_agencies(client, monkeypatch):
    client.force_login(build_every_stage())
    monkeypatch.setattr(selectors, "STATUS_CHUNK", 2)
    with time_machine.travel(MOMENT, tick=False):
        body = client.get(reverse("onboarding:status-list-csv"), {"stage": "participating"}).getvalue()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1:] == [_csv_cells(row) for row in ROWS if row[-1] == "Participating"]


# --- the page's own markup, drawn without a template per option or row ----------------------------------------------

@pytest.mark.parametrize("query", [{}, {"q": "a<b\"", "stage": "participating", "role": "housing-provider",
                                        "program_type": "permanent-housing"}, {"role": "no-such-role", "stage": "x"}])
def test_the_filter_form_is_drawn_as_django_s_widget_templates_draw_it(query):
    from hmis_portal.core.templatetags.portal_forms import widget
    from onboarding.filtersets import StatusListFilter

    form = StatusListFilter(query or None).form
    form.is_valid()
    for field in form:
        assert str(widget(field)) == str(field.as_widget()), field.name


# The page's filter form as its template drew it through the filter set's form, field by field.
TEMPLATE_FIELDS = """{% for field in form %}
  <div class="col-md-3">
    <label class="form-label small" for="{{ field.id_for_label }}">{{ field.label }}</label>
    {{ field }}
  </div>
  {% endfor %}"""

# Query strings: none, valid values, values with markup, whitespace, values the form refuses, repeated keys.
FILTER_QUERIES = ["", "page=2", "q=Alder", "q=+Alder+", "q=%3Cb%3E%22%26%27", "q=" + "x" * 100, "q=" + "x" * 101,
                  "q=%20%20", "stage=participating", "stage=x", "role=markup-role", "role=no-such-role",
                  "program_type=permanent-housing", "program_type=", "q=a&q=b%3C", "role=no-such-role&role=assessment-only",
                  "q=caf%C3%A9&stage=agreement_executed&role=housing-provider&program_type=permanent-housing&other=1"]


def _markup_role():
    CESOrganizationRole.objects.create(code="markup-role", name='<b>Role</b> & "Co" \'s', sort_order=99)


@pytest.mark.parametrize("query", FILTER_QUERIES)
def test_the_filter_form_drawn_once_is_the_form_s_own_drawing_with_each_request_s_values(query):
    """The page draws its form from a copy drawn once per process, with the
    request's values filled in: the same bytes the filter set's form drew,
    bound to the query string, invalid values marked as Django marks them."""
    from django.http import QueryDict
    from django.template import engines

    from onboarding.filtersets import StatusListFilter

    _markup_role()
    data = QueryDict(query)
    expected = engines["django"].from_string(TEMPLATE_FIELDS).render({"form": StatusListFilter(data or None).form})
    assert StatusListFilter.drawn(data) == expected
    assert StatusListFilter.drawn(data) == expected  # drawn again from the kept copy


@pytest.mark.parametrize("query", FILTER_QUERIES)
def test_the_page_reads_its_filters_as_the_filter_set_does(query):
    """The organizations kept and the stage asked are those of the filter set
    bound to the same query string (an invalid one keeps every organization)."""
    from django.http import QueryDict

    from onboarding.filtersets import StatusListFilter

    with time_machine.travel(MOMENT, tick=False):
        build_every_stage()
    _markup_role()
    OrganizationCESRole.objects.create(organization=Organization.objects.get(name="Birch Family Services"),
                                       role=CESOrganizationRole.objects.get(code="markup-role"))
    OrganizationFactory(name="Café Alder")
    data = QueryDict(query)
    filters = StatusListFilter(data or None, queryset=Organization.objects.all())
    valid = filters.is_valid()
    organizations, stage = selectors.status_filters(data)
    assert list(organizations.order_by("name", "pk").values_list("pk", flat=True)) == list(
        (filters.qs if valid else Organization.objects.all()).order_by("name", "pk").values_list("pk", flat=True))
    assert stage == (filters.form.cleaned_data.get("stage", "") if valid else "")


def test_each_stage_s_badge_is_the_one_the_stage_include_draws():
    from django.template.loader import render_to_string

    from onboarding.models import ParticipationStage

    for stage in ParticipationStage:
        assert render_to_string("onboarding/_stage_badge.html", {"stage": stage}).strip() == (
            f'<span class="badge {stage.badge}">{stage.label}</span>')


# The row as the page's template drew it with a loop over the rows' cells.
TEMPLATE_ROW = """
    <tr>
      <th scope="row" class="fw-normal">{% if row.link %}<a href="{{ row.link }}">{{ row.name }}</a>{% else %}{{ row.name }}{% endif %}</th>
      <td>{% if row.roles %}{{ row.roles|join:"<br>" }}{% else %}<span class="text-muted">—</span>{% endif %}</td>
      <td>{% for p in row.programs %}{% if not forloop.first %}<br>{% endif %}{{ p.name }} <span class="small text-muted">({{ p.program_type }}: {{ p.setup_status_label }})</span>{% empty %}<span class="text-muted">—</span>{% endfor %}</td>
      <td>{{ row.agreement_label }}</td>
      <td><span class="badge {{ row.stage.badge }}">{{ row.stage_label }}</span>
</td>
    </tr>
  """


@pytest.mark.parametrize("link", ["", "/onboarding/agencies/a-b/"])
def test_each_row_is_drawn_as_the_template_drew_it(link):
    from django.template import engines

    from onboarding.views import _status_cells, _status_row

    with time_machine.travel(MOMENT, tick=False):
        build_every_stage()
        OrganizationFactory(name='<b>"Quoted" & Co</b>', slug="quoted")
        rows = selectors.status_list(organizations=Organization.objects.all())
    template = engines["django"].from_string(TEMPLATE_ROW)
    assert len(rows) > 5 and any(row.roles for row in rows) and any(row.programs for row in rows)
    labels = {}  # kept across the rows, as a page keeps them
    for row in rows:
        assert _status_row(_status_cells(row, labels), link) == template.render({"row": _Linked(row, link)})


class _Linked:
    """A row with the link the view gives it."""

    def __init__(self, row, link):
        self._row, self.link = row, link

    def __getattr__(self, name):
        return getattr(self._row, name)


def test_the_roles_and_program_types_offered_follow_the_coc_s_rows(client):
    """The filter's choices are kept between requests (`core.cached`): a row
    CoC staff add or rename is offered at once, and one the list is filtered
    by keeps its agencies."""
    client.force_login(build_every_stage())
    url = reverse("onboarding:status-list")
    assert "Street Medicine" not in client.get(url).content.decode()
    kind = ProgramType.objects.create(code="street-medicine", name="Street Medicine")
    assert '<option value="street-medicine">Street Medicine</option>' in client.get(url).content.decode()
    kind.name = "Street Medicine Team"
    kind.save()
    assert ">Street Medicine Team</option>" in client.get(url).content.decode()
    role = CESOrganizationRole.objects.get(code="assessment-only")
    role.name = "Assessment Only (renamed)"
    role.save()
    page = client.get(url, {"role": "assessment-only"}).content.decode()
    assert '<option value="assessment-only" selected>Assessment Only (renamed)</option>' in page
    assert "Alder Street Housing" in page and "Birch Family Services" not in page


# --- what a download costs, its streamed body included ---------------------------------------------------------------

def _grow_agencies(start, stop):
    """Agencies `start`..`stop` straight into the tables, each with an agreement, two programs and a CES role."""
    from accounts.models import Organization
    from onboarding.models import Program

    agencies = Organization.objects.bulk_create([
        Organization(name=f"Grown Agency {n:05d}", slug=f"grown-agency-{n}") for n in range(start, stop)])
    OrganizationAgreement.objects.bulk_create([OrganizationAgreement(
        organization=agency, status=Status.EXECUTED if n % 2 else Status.SUBMITTED,
        countersigned_at=MOMENT if n % 2 else None) for n, agency in enumerate(agencies)])
    kinds, roles = list(ProgramType.objects.all()), list(CESOrganizationRole.objects.all())
    Program.objects.bulk_create([Program(organization=agency, name=f"Program {j}", program_type=kinds[(n + j) % len(kinds)],
                                         setup_status="confirmed" if j else "in_progress")
                                 for n, agency in enumerate(agencies) for j in range(2)])
    OrganizationCESRole.objects.bulk_create([OrganizationCESRole(organization=agency, role=roles[n % len(roles)])
                                             for n, agency in enumerate(agencies)])


@pytest.mark.parametrize("query", [{}, {"q": "agency", "role": "housing-provider", "stage": "participating"}])
def test_the_csv_download_costs_at_most_the_budget_at_10_and_1000_agencies_its_streamed_body_included(query):
    """The CSV is written as it is sent, after the view has returned: the
    queries of its body count toward the page's budget as much as the view's.
    The body reads the four queries of a chunk and nothing the request had
    already read (the filters' choices): after the view it is outside the
    request's memo, so such a read would be a query of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.test_list_pages import MAX_QUERIES
    from tests.two_factor import PortalClient

    client = PortalClient()
    client.force_login(build_every_stage())
    url = reverse("onboarding:status-list-csv")
    costs = {}
    for start, stop in ((0, 10), (10, 1000)):
        _grow_agencies(start, stop)
        with time_machine.travel(MOMENT, tick=False):
            b"".join(client.get(url, query).streaming_content)  # warm: what a new row changed is read once
            with CaptureQueriesContext(connection) as view:
                response = client.get(url, query)
            with CaptureQueriesContext(connection) as streamed:
                body = b"".join(response.streaming_content)
        costs[stop] = len(view), len(streamed), body.count(b"\n")
    assert costs[1000][2] > costs[10][2] > 1, costs  # the rows were written, more of them at 1,000
    # The agencies, then their agreements, programs and CES roles asked together: one chunk's two queries
    # on PostgreSQL (four elsewhere).
    assert costs[10][1] == costs[1000][1] == (2 if connection.vendor == "postgresql" else 4), costs
    assert sum(costs[1000][:2]) <= sum(costs[10][:2]) <= MAX_QUERIES, costs
