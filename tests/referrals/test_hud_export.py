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

EnrollmentID is non-null: the client's Coordinated Entry project enrollment
in the HMIS, which the CES team records on the referral. A referral without
it is left out of the file and named (on the export page and by the
command), never written under an ID the portal made up.
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
from hmis_portal.core.models import AuditEvent
from hmis_portal.policy_pack import PACK_DIR
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
                assert nullable, f"{name} may not be empty"
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
    accepted = make_referral(housing, actor=ces, contact_phone="555-0101", contact_name="Riley Quinn",
                             ce_enrollment_id="  CE-2026-0001  ")
    staff = provider_staff(housing.organization)
    services.referral_change_status(actor=staff, referral_id=accepted.pk, to_status=status("attempting-contact"))
    services.referral_change_status(actor=staff, referral_id=accepted.pk, to_status=status("enrolled"),
                                    enrollment_date=calendar.local_date())
    rejected = make_referral(transitional, actor=ces, contact_email="riley@example.org",
                             ce_enrollment_id="98765432109876543210987654321098")
    services.referral_change_status(actor=provider_staff(transitional.organization), referral_id=rejected.pk,
                                    to_status=status("declined-by-provider"), note="No unit fits")
    open_one = make_referral(shelter, actor=ces, ce_enrollment_id="ü-7/Ñ")
    make_referral(assessment, actor=ces, ce_enrollment_id="CE-9")  # no HUD referral event: left out
    unknown = make_referral(housing, actor=ces)  # no CE enrollment ID: left out

    files = _files(_zip(client, ces))
    assert set(files) == {"Event.csv", "Export.csv"}
    events = {row["EventID"]: row for row in _check_file(files["Event.csv"], EVENT_SPEC)}
    (export,) = _check_file(files["Export.csv"], EXPORT_SPEC)

    assert set(events) == {str(accepted.pk), str(rejected.pk), str(open_one.pk)}
    assert str(unknown.pk) not in events
    assert all(10 <= int(row["Event"]) <= 18 for row in events.values())
    assert {pk: (row["Event"], row["ReferralResult"]) for pk, row in events.items()} == {
        str(accepted.pk): ("14", "1"), str(rejected.pk): ("11", "3"), str(open_one.pk): ("10", "")}
    for pk, row in events.items():
        assert bool(row["ResultDate"]) == bool(row["ReferralResult"])
        assert row["ExportID"] == export["ExportID"]
        assert row["DateDeleted"] == ""
        assert row["UserID"] == str(ces.pk)
    assert events[str(accepted.pk)]["PersonalID"] == accepted.hmis_client_id
    # EnrollmentID: the CE enrollment ID as recorded (trimmed), UTF-8, never made up.
    assert {pk: row["EnrollmentID"] for pk, row in events.items()} == {
        str(accepted.pk): "CE-2026-0001", str(rejected.pk): "98765432109876543210987654321098",
        str(open_one.pk): "ü-7/Ñ"}
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
        referral = make_referral(program, actor=ces, ce_enrollment_id="E1")
    with time_machine.travel(made + dt.timedelta(minutes=20), tick=False):
        services.referral_change_status(actor=provider_staff(program.organization), referral_id=referral.pk,
                                        to_status=status("declined-by-provider"), note="Full")
    open_one = None
    with time_machine.travel(made + dt.timedelta(minutes=25), tick=False):
        open_one = make_referral(program, actor=ces, ce_enrollment_id="E2")
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
        early = make_referral(program, actor=ces, ce_enrollment_id="E-early")
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=LA), tick=False):
        late = make_referral(program, actor=ces, ce_enrollment_id="E-late")
    make_referral(_program("outreach"), actor=ces, ce_enrollment_id="E-outreach")
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
    assert reverse("referrals:hud-events-page") in page
    assert url in client.get(reverse("referrals:hud-events-page")).content.decode()


def test_each_pack_gives_every_program_type_a_hud_project_type():
    ProgramType.objects.update(hud_project_type=None)
    out = io.StringIO()
    call_command("load_policy", "mo-bos", stdout=out, stderr=io.StringIO())
    assert "program types: " in out.getvalue()
    assert dict(ProgramType.objects.values_list("code", "hud_project_type")) == {
        "assessment-only": 14, "access-center": 6, "outreach": 4, "emergency-shelter": 0,
        "transitional-housing": 2, "permanent-housing": 3, "joint-th-rrh": None, "emergency-assistance": None,
        "emergency-housing-voucher": None, "housing-stability-voucher": None}


def _program_type_rows():
    return sorted(ProgramType.objects.values_list("code", "name", "hud_project_type", "hud_referral_event"))


@pytest.mark.parametrize("entry, message, where", [
    ({"code": "yacht", "hud_project_type": 3}, "unknown program type “yacht”", "program_types[0].code"),
    ({"code": "outreach", "hud_project_type": 5}, "5 is not one of", "program_types[0].hud_project_type"),
    ({"code": "outreach"}, "“hud_project_type” is missing", "program_types[0]"),
    # 4.20.2's referral events are 10 to 18: an access event (1–9) or no event at all is refused.
    ({"code": "outreach", "hud_project_type": 4, "hud_referral_event": 19},
     "19 is not a HUD 4.20.2 referral event: 10 to 18", "program_types[0].hud_referral_event"),
    ({"code": "outreach", "hud_project_type": 4, "hud_referral_event": 9},
     "9 is not a HUD 4.20.2 referral event: 10 to 18", "program_types[0].hud_referral_event"),
    ({"code": "outreach", "hud_project_type": 4, "hud_referral_event": 0},
     "0 is not a HUD 4.20.2 referral event: 10 to 18", "program_types[0].hud_referral_event"),
    ({"code": "outreach", "hud_project_type": 4, "hud_referral_event": "12"},
     "must be a whole number", "program_types[0].hud_referral_event"),
    # A new program type needs its own name.
    ({"code": "flex-fund", "hud_project_type": None, "hud_referral_event": 16},
     "unknown program type “flex-fund”: give its “name” to add it", "program_types[0].code"),
    ({"code": "flex-fund", "name": "Emergency Shelter", "hud_project_type": None, "hud_referral_event": 16},
     "“Emergency Shelter” is already the name of program type “emergency-shelter”", "program_types[0].name"),
])
def test_a_pack_with_a_wrong_hud_project_type_or_referral_event_loads_nothing(tmp_path, entry, message, where):
    path = tmp_path / "pack.json"
    path.write_text('{"program_types": [\n  ' + json.dumps(entry) + "\n]}")
    before = _program_type_rows()
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:2: {where}: {message}" in err.getvalue()
    assert _program_type_rows() == before


NEW_PROGRAM_TYPES = {"joint-th-rrh": ("Joint TH-RRH", 12), "emergency-assistance": ("Emergency assistance", 16),
                     "emergency-housing-voucher": ("Emergency Housing Voucher", 17),
                     "housing-stability-voucher": ("Housing Stability Voucher", 18)}


@pytest.mark.parametrize("name", ["la", "mo-bos", "agency-admin"])
def test_each_pack_adds_the_program_types_hud_project_types_cannot_tell_apart(name):
    """Events 12, 16, 17 and 18 have no HUD project type: each pack names the
    program type and its event; a changed or missing row is put back, and a
    second load changes nothing."""
    ProgramType.objects.filter(code__in=["joint-th-rrh", "emergency-assistance"]).delete()
    ProgramType.objects.filter(code="emergency-housing-voucher").update(hud_referral_event=10)
    ProgramType.objects.filter(code="emergency-shelter").update(hud_referral_event=15)
    out = io.StringIO()
    call_command("load_policy", name, stdout=out, stderr=io.StringIO())
    assert "joint-th-rrh added" in out.getvalue() and "emergency-assistance added" in out.getvalue()
    assert "emergency-housing-voucher hud_referral_event 10 → 17" in out.getvalue()
    assert "emergency-shelter hud_referral_event 15 → None" in out.getvalue()
    rows = {t.code: t for t in ProgramType.objects.all()}
    for code, (type_name, event) in NEW_PROGRAM_TYPES.items():
        assert (rows[code].name, rows[code].hud_referral_event, rows[code].hud_project_type) == (type_name, event, None)
        assert rows[code].referral_event == event and rows[code].description
    assert rows["emergency-shelter"].referral_event == 10  # blank: from its HUD project type
    assert AuditEvent.objects.filter(verb="added from policy pack", object_id=str(rows["joint-th-rrh"].pk)).exists()
    again = io.StringIO()
    call_command("load_policy", name, stdout=again, stderr=io.StringIO())
    assert "program types: unchanged" in again.getvalue()
    assert again.getvalue().splitlines()[-1] == "Nothing changed."


def test_a_freshly_migrated_database_has_the_program_types_the_packs_name():
    rows = {t.code: (t.name, t.hud_referral_event) for t in ProgramType.objects.filter(code__in=NEW_PROGRAM_TYPES)}
    assert rows == NEW_PROGRAM_TYPES
    for name in ("la", "mo-bos", "agency-admin"):
        pack = json.loads((PACK_DIR / f"{name}.json").read_text())
        named = {row["code"]: (row["name"], row["hud_referral_event"]) for row in pack["program_types"]
                 if "hud_referral_event" in row}
        assert named == NEW_PROGRAM_TYPES, name


def _made(code, ces, **kwargs):
    return make_referral(_program(code), actor=ces, ce_enrollment_id=f"E-{code}", **kwargs)


def test_each_program_type_is_reported_as_its_referral_event(client):
    """4.20.2, 10 to 18: from the program type's own event (12, 16, 17, 18:
    no HUD project type has them), else from its HUD project type."""
    ces = matcher()
    ProgramType.objects.create(code="rrh", name="Rapid re-housing", hud_project_type=13)
    ProgramType.objects.create(code="other-ph", name="Other permanent housing", hud_project_type=9)
    expected = {"emergency-shelter": "10", "transitional-housing": "11", "joint-th-rrh": "12", "rrh": "13",
                "permanent-housing": "14", "other-ph": "15", "emergency-assistance": "16",
                "emergency-housing-voucher": "17", "housing-stability-voucher": "18"}
    made = {str(_made(code, ces).pk): event for code, event in expected.items()}
    for code in ("assessment-only", "access-center", "outreach"):  # no referral event: left out
        _made(code, ces)
    rows = _check_file(_files(_zip(client, ces))["Event.csv"], EVENT_SPEC)
    assert {row["EventID"]: row["Event"] for row in rows} == made
    assert {row["EventID"]: row["EnrollmentID"] for row in rows} == {
        pk: f"E-{code}" for pk, code in zip(made, expected, strict=True)}
    # A program type's own event is the one reported, whatever its project type says.
    ProgramType.objects.filter(code="permanent-housing").update(hud_referral_event=17)
    rows = _check_file(_files(_zip(client, ces))["Event.csv"], EVENT_SPEC)
    assert {row["EventID"]: row["Event"] for row in rows}[next(iter(k for k, v in made.items() if v == "14"))] == "17"


def test_referrals_without_a_ce_enrollment_id_are_left_out_and_listed(client, tmp_path, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    ces = matcher()
    program = _program("permanent-housing", name="Hope Village")
    recorded = make_referral(program, actor=ces, ce_enrollment_id="E-1")
    missing = [make_referral(program, actor=ces) for _ in range(2)]
    make_referral(_program("outreach"), actor=ces)  # no referral event: counted apart, not asked for an ID
    rows = _check_file(_files(_zip(client, ces))["Event.csv"], EVENT_SPEC)
    assert [row["EventID"] for row in rows] == [str(recorded.pk)]

    page = client.get(reverse("referrals:hud-events-page")).content.decode()
    assert "2 referrals left out: no CE enrollment ID" in page
    for referral in missing:
        assert (f'<a href="{reverse("referrals:detail", args=[referral.pk])}">Referral {referral.pk}: client '
                f'{referral.hmis_client_id}</a> to Hope Village') in page
    assert f"Referral {recorded.pk}:" not in page
    assert "1 referral to Outreach programs" in page
    assert "1 event</strong>" in page

    out = io.StringIO()
    call_command("export_hud_events", "--out", str(tmp_path / "events.zip"), stdout=out)
    assert "Wrote 1 event of referrals" in out.getvalue()
    assert "2 referrals left out: no CE enrollment ID." in out.getvalue()
    for referral in missing:
        assert (f"  referral {referral.pk} (client {referral.hmis_client_id}): "
                f"https://portal.example.org/referrals/{referral.pk}/") in out.getvalue()

    # Recorded, the referral is in the file and no longer listed.
    services.referral_record_ce_enrollment(actor=ces, referral_id=missing[0].pk, ce_enrollment_id="E-2")
    page = client.get(reverse("referrals:hud-events-page")).content.decode()
    assert "1 referral left out: no CE enrollment ID" in page
    assert f"Referral {missing[0].pk}:" not in page
    rows = _check_file(_files(_zip(client, ces))["Event.csv"], EVENT_SPEC)
    assert {row["EventID"]: row["EnrollmentID"] for row in rows} == {str(recorded.pk): "E-1",
                                                                     str(missing[0].pk): "E-2"}


def test_the_export_page_costs_the_same_queries_at_any_number_of_referrals(client, django_assert_max_num_queries):
    ces = matcher()
    client.force_login(ces)
    program = _program("permanent-housing")
    make_referral(program, actor=ces)
    with django_assert_max_num_queries(30) as few:
        assert client.get(reverse("referrals:hud-events-page")).status_code == 200
    for _ in range(6):
        make_referral(program, actor=ces)
        make_referral(_program("outreach"), actor=ces)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("referrals:hud-events-page")).content.decode()
    assert "7 referrals left out: no CE enrollment ID" in page


def test_the_file_costs_the_same_queries_at_any_number_of_referrals(client, django_assert_max_num_queries):
    ces = matcher()
    client.force_login(ces)
    for code in ("emergency-shelter", "permanent-housing"):
        make_referral(_program(code), actor=ces, ce_enrollment_id=f"E-{code}")
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("referrals:hud-events"))
    for code in ("transitional-housing", "permanent-housing", "emergency-shelter") * 4:
        referral = make_referral(_program(code), actor=ces, ce_enrollment_id=f"E-{code}")
        services.referral_change_status(actor=ces, referral_id=referral.pk, to_status=status("did-not-respond"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        content = client.get(reverse("referrals:hud-events")).content
    assert len(_check_file(_files(content)["Event.csv"], EVENT_SPEC)) == 14
