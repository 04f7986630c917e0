"""HUD's `Event.csv` and its `Export.csv`, read back and checked column by
column against the FY2026 HMIS CSV Format Specifications.

What the specification says, and where it was read (HUD's own PDF is not in
the reference library; these public implementations of it were):

- Event.csv, 15 columns in this order and case, with type, length and whether
  the column may be empty: EventID S32 not null; EnrollmentID S32 not null;
  PersonalID S32 not null; EventDate D not null; Event I not null (list
  4.20.2); ProbSolDivRRResult I (1.7); ReferralCaseManageAfter I (1.7);
  LocationCrisisOrPHHousing S250; ReferralResult I (4.20.D); ResultDate D;
  DateCreated T not null; DateUpdated T not null; UserID S32 not null;
  DateDeleted T; ExportID S32 not null. Source: greenriver/hmis-warehouse,
  app/models/concerns/hmis_structure/event.rb (the same structure for the
  2020, 2022, 2024 and 2026 specifications; commit 2bb2a18d), and the type
  string "cccDiiiciDTTcTc" for Event in HUD-Data-Lab/DataLab, DataLab_Lists.R.
- Export.csv, 19 columns: ExportID S32 not null; SourceType I not null (1.9);
  SourceID S350; SourceName S50; SourceContactFirst S50; SourceContactLast
  S50; SourceContactPhone S10; SourceContactExtension S5; SourceContactEmail
  S320; ExportDate T not null; ExportStartDate D not null; ExportEndDate D not
  null; SoftwareName S50 not null; SoftwareVersion S50; CSVVersion S50;
  ExportPeriodType I not null (1.1); ExportDirective I not null (1.2);
  HashStatus I not null (1.5); ImplementationID S200 not null (new in 2026).
  Source: greenriver/hmis-warehouse, app/models/concerns/hmis_structure/export.rb
  (version "2026"), and its 2026 exporter (CSVVersion "2026 v1.3").
- Types: D is `YYYY-MM-DD`, T is `YYYY-MM-DD hh:mm:ss`.
- Characters: "HMIS CSV exports must allow for the export of all UTF-8
  characters as entered by users, with the exception of the following:
  < > [ ] { }" (FY26 CSV specification, quoted in greenriver/hmis-warehouse,
  drivers/hmis_csv_twenty_twenty_six/.../exporter/export_concern.rb).
- Lists (greenriver/hmis-warehouse, lib/util/concerns/hud_lists_2026.rb,
  generated from HUD's FY2026 lists):
  2.02.6 ProjectType: 0 ES – Entry Exit, 1 ES – Night-by-Night, 2 TH, 3 PH –
  PSH, 4 Street Outreach, 6 Services Only, 7 Other, 8 Safe Haven, 9 PH –
  Housing Only, 10 PH – Housing with Services, 11 Day Shelter, 12 Homelessness
  Prevention, 13 PH – Rapid Re-Housing, 14 Coordinated Entry.
  4.20.2 Event, the referral events: 10 Referral to Emergency Shelter bed
  opening; 11 to Transitional Housing bed/unit opening; 12 to Joint TH-RRH
  project/unit/resource opening; 13 to RRH project resource opening; 14 to PSH
  project resource opening; 15 to Other PH project/unit/resource opening; 16
  to emergency assistance/flex fund/furniture assistance; 17 to Emergency
  Housing Voucher (EHV); 18 to a Housing Stability Voucher (1–9 are access
  events: prevention, diversion, assessments, outreach, navigation).
  4.20.D ReferralResult: 1 Successful referral: client accepted; 2
  Unsuccessful referral: client rejected; 3 Unsuccessful referral: provider
  rejected. 1.1 ExportPeriodType: 1 Updated, 3 Reporting period, 4 Other.
  1.2 ExportDirective: 1 Delta refresh, 2 Full refresh, 3 Other. 1.5
  HashStatus: 1 Unhashed, 2 SHA-1 RHY, 3 Hashed – other, 4 SHA-256 (RHY). 1.9
  SourceType: 1 CoC HMIS, 2 Standalone/agency-specific application, 3 Data
  warehouse, 4 Other.

One departure, on purpose: the specification makes EnrollmentID non-null (the
client's Coordinated Entry enrollment in the HMIS). The portal does not know
that enrollment, so the column is written empty; `KNOWN_EMPTY` names it.
"""

import csv
import datetime as dt
import io
import json
import re
import zipfile
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from hmis_portal.core import calendar
from hmis_portal.core.dates import deadline_text
from onboarding.models import ProgramType
from referrals import services
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")

# (column, type, length, may be empty, allowed values) as the specification has them.
EVENT_SPEC = [
    ("EventID", "S", 32, False, None),
    ("EnrollmentID", "S", 32, False, None),
    ("PersonalID", "S", 32, False, None),
    ("EventDate", "D", None, False, None),
    ("Event", "I", None, False, set(range(1, 19))),
    ("ProbSolDivRRResult", "I", None, True, {0, 1, 99}),
    ("ReferralCaseManageAfter", "I", None, True, {0, 1, 99}),
    ("LocationCrisisOrPHHousing", "S", 250, True, None),
    ("ReferralResult", "I", None, True, {1, 2, 3}),
    ("ResultDate", "D", None, True, None),
    ("DateCreated", "T", None, False, None),
    ("DateUpdated", "T", None, False, None),
    ("UserID", "S", 32, False, None),
    ("DateDeleted", "T", None, True, None),
    ("ExportID", "S", 32, False, None),
]
EXPORT_SPEC = [
    ("ExportID", "S", 32, False, None),
    ("SourceType", "I", None, False, {1, 2, 3, 4}),
    ("SourceID", "S", 350, True, None),
    ("SourceName", "S", 50, True, None),
    ("SourceContactFirst", "S", 50, True, None),
    ("SourceContactLast", "S", 50, True, None),
    ("SourceContactPhone", "S", 10, True, None),
    ("SourceContactExtension", "S", 5, True, None),
    ("SourceContactEmail", "S", 320, True, None),
    ("ExportDate", "T", None, False, None),
    ("ExportStartDate", "D", None, False, None),
    ("ExportEndDate", "D", None, False, None),
    ("SoftwareName", "S", 50, False, None),
    ("SoftwareVersion", "S", 50, True, None),
    ("CSVVersion", "S", 50, True, None),
    ("ExportPeriodType", "I", None, False, {1, 3, 4}),
    ("ExportDirective", "I", None, False, {1, 2, 3}),
    ("HashStatus", "I", None, False, {1, 2, 3, 4}),
    ("ImplementationID", "S", 200, False, None),
]
KNOWN_EMPTY = {"EnrollmentID"}
D = re.compile(r"\d{4}-\d{2}-\d{2}")
T = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
I = re.compile(r"-?\d+")
FIELD = re.compile(r'("(?:[^"]|"")*"|[^,"]*)(?:,|$)')


def _program(code, **kwargs):
    return ProgramFactory(program_type=ProgramType.objects.get(code=code), **kwargs)


def _zip(client, user, **params):
    client.force_login(user)
    response = client.get(reverse("referrals:hud-events"), params)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    return response.content


def _files(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def _check_file(text: str, spec) -> list[dict]:
    """Every line against the specification: the header exactly, then each
    value's type, length, emptiness and list, and string values quoted."""
    lines = text.split("\r\n")
    assert lines[-1] == "" and all("\n" not in line for line in lines)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [name for name, *_ in spec]
    for raw, row in zip(lines[1:], rows[1:], strict=False):
        tokens = [m.group(1) for m in FIELD.finditer(raw)][:len(spec)]
        assert len(row) == len(spec) == len(tokens)
        for (name, kind, length, nullable, allowed), value, token in zip(spec, row, tokens, strict=True):
            if kind == "S":
                assert token.startswith('"') and token.endswith('"'), (name, token)
                assert len(value) <= length, (name, value)
                assert not set(value) & set("<>[]{}"), (name, value)
            else:
                assert not token.startswith('"'), (name, token)
            if value == "":
                assert nullable or name in KNOWN_EMPTY, f"{name} may not be empty"
                continue
            pattern = {"D": D, "T": T, "I": I}.get(kind)
            if pattern:
                assert pattern.fullmatch(value), (name, value)
            if kind == "D":
                dt.date.fromisoformat(value)
            if kind == "T":
                dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
            if allowed is not None:
                assert int(value) in allowed, (name, value)
    return [dict(zip([name for name, *_ in spec], row, strict=True)) for row in rows[1:]]


def test_event_csv_and_export_csv_read_back_as_the_specification_has_them(client):
    ces = matcher()
    shelter = _program("emergency-shelter", name="Café Ñandú <Bridge> [North] {2}")
    transitional = _program("transitional-housing")
    housing = _program("permanent-housing")
    assessment = _program("assessment-only")
    accepted = make_referral(housing, actor=ces, contact_phone="555-0101", contact_name="Riley Quinn")
    staff = provider_staff(housing.organization)
    services.referral_change_status(actor=staff, referral_id=accepted.pk, to_status=status("attempting-contact"))
    services.referral_change_status(actor=staff, referral_id=accepted.pk, to_status=status("enrolled"),
                                    enrollment_date=calendar.local_date())
    rejected = make_referral(transitional, actor=ces, contact_email="riley@example.org")
    services.referral_change_status(actor=provider_staff(transitional.organization), referral_id=rejected.pk,
                                    to_status=status("declined-by-provider"), note="No unit fits")
    open_one = make_referral(shelter, actor=ces)
    make_referral(assessment, actor=ces)  # no HUD referral event: left out

    files = _files(_zip(client, ces))
    assert set(files) == {"Event.csv", "Export.csv"}
    events = {row["EventID"]: row for row in _check_file(files["Event.csv"], EVENT_SPEC)}
    (export,) = _check_file(files["Export.csv"], EXPORT_SPEC)

    assert set(events) == {str(accepted.pk), str(rejected.pk), str(open_one.pk)}
    assert all(10 <= int(row["Event"]) <= 18 for row in events.values())
    assert {pk: (row["Event"], row["ReferralResult"]) for pk, row in events.items()} == {
        str(accepted.pk): ("14", "1"), str(rejected.pk): ("11", "3"), str(open_one.pk): ("10", "")}
    for pk, row in events.items():
        assert bool(row["ResultDate"]) == bool(row["ReferralResult"])
        assert row["ExportID"] == export["ExportID"]
        assert row["EnrollmentID"] == "" and row["DateDeleted"] == ""
        assert row["UserID"] == str(ces.pk)
    assert events[str(accepted.pk)]["PersonalID"] == accepted.hmis_client_id
    assert events[str(open_one.pk)]["LocationCrisisOrPHHousing"] == "Café Ñandú Bridge North 2"
    # No client data beyond the HMIS client ID: no name, phone, email or note.
    everything = "".join(files.values())
    for private in ("Riley", "555-0101", "riley@example.org", "No unit fits"):
        assert private not in everything
    assert export["CSVVersion"].startswith("2026") and export["SourceType"] == "2"
    assert (export["ExportStartDate"], export["ExportEndDate"]) == (
        calendar.local_date(accepted.referred_at).isoformat(), calendar.local_date().isoformat())
    assert export["SourceContactEmail"] == ces.email


def test_every_exported_date_is_the_day_the_pages_show_across_midnight(client):
    """A referral made at 11:30 PM in Los Angeles is 7:30 AM the next day in
    UTC: the file says the local day, as the referral's page does, and the
    referrals CSV's due day is the one the page words ("Due by end of …"),
    not the midnight after it."""
    ces = matcher()
    program = _program("permanent-housing")
    made = dt.datetime(2026, 11, 24, 23, 30, tzinfo=LA)
    with time_machine.travel(made, tick=False):
        referral = make_referral(program, actor=ces)
    with time_machine.travel(made + dt.timedelta(minutes=20), tick=False):
        services.referral_change_status(actor=provider_staff(program.organization), referral_id=referral.pk,
                                        to_status=status("declined-by-provider"), note="Full")
    open_one = None
    with time_machine.travel(made + dt.timedelta(minutes=25), tick=False):
        open_one = make_referral(program, actor=ces)
    with time_machine.travel(made + dt.timedelta(days=1), tick=False):
        client.force_login(ces)
        page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
        open_page = client.get(reverse("referrals:detail", args=[open_one.pk])).content.decode()
        (row, open_row) = _check_file(_files(_zip(client, ces, **{"from": "2026-11-24", "to": "2026-11-24"}))
                                      ["Event.csv"], EVENT_SPEC)
        export = client.get(reverse("referrals:export"), {"from": "2026-11-24"})
        body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "Nov 24" in page and "Nov 25" not in page
    assert (row["EventDate"], row["ResultDate"]) == ("2026-11-24", "2026-11-24")
    assert (row["DateCreated"], row["DateUpdated"]) == ("2026-11-24 23:30:00", "2026-11-24 23:50:00")
    # The page's deadline and the CSV's due day are the same day.
    open_one.refresh_from_db()
    due_day = calendar.deadline_day(open_one.due_at)
    assert deadline_text(open_one.due_at) in open_page
    assert f"{due_day:%b} {due_day.day}" in open_page
    rows = {r["referral_id"]: r for r in csv.DictReader(io.StringIO(body))}
    assert rows[str(open_one.pk)]["due_at"] == due_day.isoformat()
    assert rows[str(open_one.pk)]["referred_at"] == "2026-11-24 23:55:00"
    assert open_row["EventDate"] == "2026-11-24"


def test_the_command_writes_the_zip_the_page_offers(client, tmp_path):
    ces = matcher()
    program = _program("emergency-shelter")
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, 0, tzinfo=LA), tick=False):
        early = make_referral(program, actor=ces)
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=LA), tick=False):
        late = make_referral(program, actor=ces)
    make_referral(_program("outreach"), actor=ces)
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=LA), tick=False):
        out = io.StringIO()
        path = tmp_path / "events.zip"
        call_command("export_hud_events", "--out", str(path), "--from", "2026-11-10", "--to", "2026-11-30", stdout=out)
        from_page = _files(_zip(client, ces, **{"from": "2026-11-10", "to": "2026-11-30"}))
        call_command("export_hud_events", "--out", str(tmp_path / "all.zip"), stdout=io.StringIO())
    written = _files(path.read_bytes())
    assert written["Event.csv"] == from_page["Event.csv"]
    (row,) = _check_file(written["Event.csv"], EVENT_SPEC)
    assert row["EventID"] == str(late.pk)
    (export,) = _check_file(written["Export.csv"], EXPORT_SPEC)
    assert (export["ExportStartDate"], export["ExportEndDate"]) == ("2026-11-10", "2026-11-30")
    assert "Wrote 1 event of referrals made 2026-11-10 to 2026-11-30" in out.getvalue()
    everything = _check_file(_files((tmp_path / "all.zip").read_bytes())["Event.csv"], EVENT_SPEC)
    assert {r["EventID"] for r in everything} == {str(early.pk), str(late.pk)}
    with pytest.raises(CommandError, match="comes after"):
        call_command("export_hud_events", "--out", str(path), "--from", "2026-12-01", "--to", "2026-11-01")


def test_the_command_names_what_it_left_out(tmp_path):
    make_referral(_program("outreach"))
    out = io.StringIO()
    call_command("export_hud_events", "--out", str(tmp_path / "x.zip"), stdout=out)
    assert "Wrote 0 events" in out.getvalue()
    assert "Left out 1 referral to Outreach programs" in out.getvalue()


def test_only_the_ces_team_gets_the_file(client):
    program = _program("permanent-housing")
    make_referral(program)
    url = reverse("referrals:hud-events")
    assert client.get(url).status_code == 302  # to sign in
    for person in (provider_staff(program.organization),
                   provider_staff(program.organization, persona="program_manager"),
                   provider_staff(program.organization, persona="executive_director", hmis_role=None)):
        client.force_login(person)
        assert client.get(url).status_code == 403
    client.force_login(matcher())
    assert client.get(url).status_code == 200
    page = client.get(reverse("referrals:providers")).content.decode()
    assert url in page


def test_each_pack_gives_every_program_type_a_hud_project_type():
    ProgramType.objects.update(hud_project_type=None)
    out = io.StringIO()
    call_command("load_policy", "mo-bos", stdout=out, stderr=io.StringIO())
    assert "program types: " in out.getvalue()
    assert dict(ProgramType.objects.values_list("code", "hud_project_type")) == {
        "assessment-only": 14, "access-center": 6, "outreach": 4, "emergency-shelter": 0,
        "transitional-housing": 2, "permanent-housing": 3}


@pytest.mark.parametrize("entry, message", [
    ({"code": "yacht", "hud_project_type": 3}, "unknown program type “yacht”"),
    ({"code": "outreach", "hud_project_type": 5}, "5 is not one of"),
    ({"code": "outreach"}, "“hud_project_type” is missing"),
])
def test_a_pack_with_a_wrong_hud_project_type_loads_nothing(tmp_path, entry, message):
    path = tmp_path / "pack.json"
    path.write_text('{"program_types": [\n  ' + json.dumps(entry) + "\n]}")
    before = dict(ProgramType.objects.values_list("code", "hud_project_type"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert message in err.getvalue() and f"{path}:2:" in err.getvalue()
    assert dict(ProgramType.objects.values_list("code", "hud_project_type")) == before


def test_the_file_costs_the_same_queries_at_any_number_of_referrals(client, django_assert_max_num_queries):
    ces = matcher()
    client.force_login(ces)
    for code in ("emergency-shelter", "permanent-housing"):
        make_referral(_program(code), actor=ces)
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("referrals:hud-events"))
    for code in ("transitional-housing", "permanent-housing", "emergency-shelter") * 4:
        referral = make_referral(_program(code), actor=ces)
        services.referral_change_status(actor=ces, referral_id=referral.pk, to_status=status("did-not-respond"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        content = client.get(reverse("referrals:hud-events")).content
    assert len(_check_file(_files(content)["Event.csv"], EVENT_SPEC)) == 14
