"""The HMIS login report import: validated whole, bad rows by line number,
nothing applied unless chosen, idempotent, never backwards, set-based."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from hmis_accounts.services import record_hmis_logins
from hmis_accounts.logins import read_login_report
from hmis_access.models import HMISAccount
from tests.hmis_access.hmis import local, many_accounts
from tests.factories import HMISAccountFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    old = local(dt.date(2026, 10, 1), 9)
    return [HMISAccountFactory(hmis_username=name, last_hmis_login_at=old, provisioned_at=old)
            for name in ("avery.one", "blake.two", "casey.three")]


def _write(tmp_path, text):
    path = tmp_path / "logins.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


GOOD = ("HMIS Username,Last Login Time\n"
        "avery.one,2026-11-10 08:15\n"
        "blake.two,11/12/2026 5:30 PM\n"
        "casey.three,2026-11-12T23:30:00-08:00\n")

BAD = ("HMIS Username,Last Login Time\n"
       "avery.one,2026-11-10 08:15\n"
       "nobody.here,2026-11-10 08:15\n"
       ",2026-11-10 08:15\n"
       "blake.two,not a date\n"
       "casey.three,2031-01-01 00:00\n")


def _logins():
    return dict(HMISAccount.objects.values_list("hmis_username", "last_hmis_login_at"))


def test_a_good_report_is_applied_in_the_coc_s_time_zone(tmp_path, accounts):
    out = StringIO()
    call_command("import_hmis_logins", _write(tmp_path, GOOD), "--no-progress", stdout=out)
    assert "3 accounts updated" in out.getvalue()
    by_name = {a.hmis_username: a for a in HMISAccount.objects.all()}
    assert by_name["avery.one"].last_hmis_login_at == local(dt.date(2026, 11, 10), 8, 15)
    assert by_name["blake.two"].last_hmis_login_at == local(dt.date(2026, 11, 12), 17, 30)
    # 23:30 in Los Angeles is already the 13th in UTC; the clock counts the local date.
    assert by_name["casey.three"].inactivity_counted_from == dt.date(2026, 11, 12)
    assert by_name["casey.three"].retraining_counted_from == dt.date(2026, 11, 12)


def test_bad_rows_are_listed_by_line_and_nothing_is_applied(tmp_path, accounts):
    before = _logins()
    err = StringIO()
    with pytest.raises(CommandError, match="4 bad rows of 5; nothing was applied"):
        call_command("import_hmis_logins", _write(tmp_path, BAD), "--no-progress", stderr=err)
    assert _logins() == before
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("line 3: nobody.here: No HMIS account")
    assert lines[1].startswith("line 4: (no username): The HMIS username is empty")
    assert lines[2].startswith("line 5: blake.two: “not a date” is not a date and time")
    assert lines[3].startswith("line 6: casey.three: The last login 2031-01-01 00:00 is in the future")


def test_the_good_rows_are_applied_when_the_person_chooses(tmp_path, accounts):
    before = _logins()
    out = StringIO()
    call_command("import_hmis_logins", _write(tmp_path, BAD), "--apply-good-rows", "--no-progress", stdout=out,
                 stderr=StringIO())
    after = _logins()
    assert after["avery.one"] == local(dt.date(2026, 11, 10), 8, 15)
    assert after["blake.two"] == before["blake.two"]
    assert after["casey.three"] == before["casey.three"]
    assert "4 bad rows skipped" in out.getvalue()


def test_importing_twice_or_an_older_report_never_moves_a_login_backwards(tmp_path, accounts):
    call_command("import_hmis_logins", _write(tmp_path, GOOD), "--no-progress", stdout=StringIO())
    first = _logins()
    out = StringIO()
    call_command("import_hmis_logins", _write(tmp_path, GOOD), "--no-progress", stdout=out)
    assert "0 accounts updated, 3 already had that login or a later one" in out.getvalue()
    older = "HMIS Username,Last Login Time\navery.one,2026-11-01 08:00\n"
    call_command("import_hmis_logins", _write(tmp_path, older), "--no-progress", stdout=StringIO())
    assert _logins() == first


def test_a_missing_header_or_an_empty_file_is_refused(tmp_path, accounts):
    with pytest.raises(CommandError, match="must name the columns"):
        call_command("import_hmis_logins", _write(tmp_path, "avery.one,2026-11-10\n"), "--no-progress")
    with pytest.raises(CommandError, match="empty"):
        call_command("import_hmis_logins", _write(tmp_path, ""), "--no-progress")


def test_a_user_listed_without_a_login_is_not_an_error(tmp_path, accounts):
    out = StringIO()
    call_command("import_hmis_logins", _write(tmp_path, "username,last login\navery.one,\n"), "--no-progress",
                 stdout=out)
    assert "1 never logged in" in out.getvalue()


def test_the_progress_bar(tmp_path, accounts):
    err = StringIO()
    call_command("import_hmis_logins", _write(tmp_path, GOOD), "--progress", stdout=StringIO(), stderr=err)
    assert "Checking" in err.getvalue() and "Applying" in err.getvalue()
    assert "100% 3/3" in err.getvalue()


def test_a_login_after_reactivation_meets_the_same_day_rule(accounts):
    account = accounts[0]
    HMISAccount.objects.filter(pk=account.pk).update(reactivated_at=local(dt.date(2026, 11, 20), 10),
                                                      must_log_in_by=dt.date(2026, 11, 20))
    record_hmis_logins(logins={account.hmis_username: local(dt.date(2026, 11, 20), 9)})  # before: not enough
    account.refresh_from_db()
    assert account.must_log_in_by == dt.date(2026, 11, 20)
    record_hmis_logins(logins={account.hmis_username: local(dt.date(2026, 11, 20), 16)})
    account.refresh_from_db()
    assert account.must_log_in_by is None


def test_reading_and_applying_are_set_based(django_assert_max_num_queries):
    names = [f"user{n:04d}" for n in range(1500)]
    many_accounts(dict.fromkeys(names, local(dt.date(2026, 10, 1), 9)))
    text = "HMIS username,last login time\n" + "".join(f"{n},2026-11-10 08:15\n" for n in names)
    with django_assert_max_num_queries(4):  # one lookup per 900 names
        report = read_login_report(text.splitlines(), now=local(dt.date(2026, 11, 20), 12))
    assert report.is_valid and len(report.logins) == 1500
    # Two batches of 1,000: a locking select and a few bulk UPDATE statements
    # each (SQLite caps the parameters per statement), never one per row.
    with django_assert_max_num_queries(24):
        result = record_hmis_logins(logins=report.logins, batch_size=1000)
    assert result.updated == 1500
    assert HMISAccount.objects.filter(inactivity_counted_from=dt.date(2026, 11, 10)).count() == 1500


def test_coc_staff_upload_the_report_in_the_admin(client, accounts):
    from django.core.files.uploadedfile import SimpleUploadedFile

    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    url = reverse("admin:hmis_access_hmisaccount_import_logins")
    changelist = client.get(reverse("admin:hmis_access_hmisaccount_changelist"))
    assert url in changelist.content.decode()
    before = _logins()
    response = client.post(url, {"report": SimpleUploadedFile("r.csv", BAD.encode())})
    page = response.content.decode()
    assert response.status_code == 200
    assert "nothing was applied" in page
    assert "<td>3</td><td>nobody.here</td>" in page
    assert _logins() == before
    response = client.post(url, {"report": SimpleUploadedFile("r.csv", BAD.encode()), "apply_good_rows": "on"})
    assert "4 bad rows skipped" in response.content.decode()
    assert _logins()["avery.one"] == local(dt.date(2026, 11, 10), 8, 15)
    response = client.post(url, {"report": SimpleUploadedFile("r.csv", GOOD.encode())})
    assert response.status_code == 302


def test_staff_without_change_permission_cannot_upload(client):
    client.force_login(StaffFactory(groups=["CES team"]))
    response = client.get(reverse("admin:hmis_access_hmisaccount_import_logins"))
    assert response.status_code == 403


def test_an_import_in_the_admin_is_audited_with_its_counts(client, accounts):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from hmis_portal.core.models import AuditEvent

    staff = StaffFactory(groups=["CoC provisioning"])
    client.force_login(staff)
    url = reverse("admin:hmis_access_hmisaccount_import_logins")
    client.post(url, {"report": SimpleUploadedFile("r.csv", BAD.encode()), "apply_good_rows": "on"})
    event = AuditEvent.objects.get(verb="imported the HMIS login report")
    assert event.actor == staff
    assert event.data == {"rows": 5, "bad_rows": 4, "never_logged_in": 0, "logins": 1, "updated": 1, "unchanged": 0}
    client.post(url, {"report": SimpleUploadedFile("r.csv", GOOD.encode())})
    again = AuditEvent.objects.filter(verb="imported the HMIS login report").order_by("pk").last()
    assert (again.data["updated"], again.data["unchanged"]) == (2, 1)


@pytest.mark.parametrize("length", [5_000, 200_000])
def test_a_huge_field_is_refused_with_a_clear_message(client, accounts, length):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    url = reverse("admin:hmis_access_hmisaccount_import_logins")
    text = GOOD + "x" * length + ",2026-11-10 08:15\n"
    response = client.post(url, {"report": SimpleUploadedFile("r.csv", text.encode())})
    assert response.status_code == 200
    assert "this is not the HMIS login report" in response.content.decode() or (
        "This is not a CSV login report" in response.content.decode())
    assert _logins()["avery.one"] == local(dt.date(2026, 10, 1), 9)


def test_a_username_longer_than_any_account_s_is_a_bad_row(accounts):
    report = read_login_report(["HMIS username,last login time", "y" * 151 + ",2026-11-10 08:15"],
                               now=local(dt.date(2026, 11, 20), 12))
    assert [bad.problem for bad in report.bad_rows] == ["The HMIS username is longer than 150 characters."]


def test_a_report_over_the_size_limit_is_refused_while_streaming(client, accounts, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.LOGIN_REPORT_MAX_BYTES = 200
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    url = reverse("admin:hmis_access_hmisaccount_import_logins")
    text = GOOD + "".join(f"avery.one,2026-11-0{n % 9 + 1} 08:15\n" for n in range(20))
    response = client.post(url, {"report": SimpleUploadedFile("r.csv", text.encode())})
    assert response.status_code == 200
    assert "the limit is 200" in response.content.decode()
    assert _logins()["avery.one"] == local(dt.date(2026, 10, 1), 9)


def test_a_control_character_in_a_row_is_a_bad_row_not_a_server_error(tmp_path, accounts):
    from hmis_accounts.logins import read_login_report

    report = read_login_report(["HMIS username,Last login", "nul\x00name,2026-11-01 09:00",
                                f"{accounts[0].hmis_username},2026-11-01 09:00\x01"])
    assert [bad.line for bad in report.bad_rows] == [2, 3]
    assert all("control character" in bad.problem for bad in report.bad_rows)
    assert report.logins == {}


@pytest.mark.postgres
def test_each_batch_reads_only_its_own_accounts():
    """The import matches the report's usernames to accounts once, then each
    batch reads its accounts by id: a batch never scans the whole table
    (which made an import of n rows cost n / batch scans of every account)."""
    from django.db import connection

    names = [f"member{n:05d}" for n in range(6000)]
    many_accounts(dict.fromkeys(names, local(dt.date(2026, 10, 1), 9)))

    def scans():
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_xact_user_tables WHERE relname = %s",
                           [HMISAccount._meta.db_table])
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {HMISAccount._meta.db_table}")
    before = scans()
    logins = {name: local(dt.date(2026, 11, 10), 8) for name in names[::2]}
    result = record_hmis_logins(logins={**logins, "nobody.here": local(dt.date(2026, 11, 10), 8)}, batch_size=300)
    assert result.updated == 3000 and result.unchanged == 0
    # Ten batches; at most the one statement that matches the names reads the whole table.
    assert scans() - before <= 1
    assert HMISAccount.objects.filter(last_hmis_login_at=local(dt.date(2026, 11, 10), 8)).count() == 3000
