"""The daily HMIS account sweeps (seed 002; SPEC §4: inactivity days are the
CoC's calendar dates, DST moves nothing)."""

import datetime as dt

import pytest

from hmis_accounts import sweep as sweeps
from hmis_access.models import AccessPolicy, HMISAccount
from hmis_accounts.models import ReactivationRequest
from hmis_portal.core.dates import day_text
from hmis_portal.core.models import AuditEvent, Notification
from tests.hmis_access.hmis import account_last_login, agency_admin, local, sweep

pytestmark = pytest.mark.django_db

Active, Inactive = HMISAccount.Status.ACTIVE, HMISAccount.Status.INACTIVE


def _status(account):
    account.refresh_from_db()
    return account.status


# Last login late in the evening, local time: the UTC date is already the
# next day, so a sweep that counted UTC dates would be a day late.
# (start date, name) — the 30 days cross the autumn and the spring DST
# changes in America/Los_Angeles, or none.
STARTS = [
    (dt.date(2026, 10, 20), "across the November DST change"),
    (dt.date(2026, 2, 20), "across the March DST change"),
    (dt.date(2026, 6, 10), "no DST change"),
]


@pytest.mark.parametrize("start", [s for s, _ in STARTS], ids=[n for _, n in STARTS])
@pytest.mark.parametrize("days, expected", [(29, Active), (30, Inactive), (31, Inactive)])
def test_inactive_on_local_day_30(start, days, expected):
    account = account_last_login(local(start, 23, 45))
    sweep(local(start + dt.timedelta(days=days), 0, 5).isoformat())
    assert _status(account) == expected


@pytest.mark.parametrize("start", [s for s, _ in STARTS], ids=[n for _, n in STARTS])
def test_still_active_at_the_last_minute_of_day_29(start):
    account = account_last_login(local(start, 0, 1))
    sweep(local(start + dt.timedelta(days=29), 23, 59).isoformat())
    assert _status(account) == Active
    sweep(local(start + dt.timedelta(days=30), 0, 0).isoformat())
    assert _status(account) == Inactive


@pytest.mark.parametrize("start", [dt.date(2026, 1, 1), dt.date(2026, 9, 1)],
                         ids=["across the March DST change", "across the November DST change"])
@pytest.mark.parametrize("days, expected", [(89, False), (90, True), (91, True)])
def test_retraining_on_local_day_90(start, days, expected):
    account = account_last_login(local(start, 23, 30))
    sweep(local(start + dt.timedelta(days=days), 0, 5).isoformat())
    account.refresh_from_db()
    assert account.retraining_required is expected
    # By day 89 it has long been Inactive; retraining is a second setback.
    assert account.status == Inactive
    if expected:
        assert account.retraining_required_on == start + dt.timedelta(days=days)
        policy = AccessPolicy.current()
        assert set(account.retraining_courses.all()) == set(policy.retraining_courses.all())
        assert account.retraining_courses.filter(code="hmis-basic-navigation").exists()


def test_the_user_and_the_agency_administrators_are_told_once():
    start = dt.date(2026, 3, 1)
    account = account_last_login(local(start, 12))
    admin = agency_admin(account.organization)
    at = local(start + dt.timedelta(days=30), 0, 5).isoformat()
    sweep(at)
    sweep(at)  # the same run again: nothing more
    sweep(local(start + dt.timedelta(days=31), 0, 5).isoformat())  # and the next day
    recipients = sorted(Notification.objects.filter(subject__contains="Inactive").values_list("to_email", flat=True))
    assert recipients == sorted([account.user.email, admin.email])
    assert AuditEvent.objects.filter(verb="made inactive", object_id=str(account.pk)).count() == 1


def test_messages_are_delivered_after_commit(django_capture_on_commit_callbacks):
    from django.core import mail

    start = dt.date(2026, 3, 1)
    account = account_last_login(local(start, 12))
    with django_capture_on_commit_callbacks(execute=True):
        sweep(local(start + dt.timedelta(days=30), 0, 5).isoformat())
    assert [m.to for m in mail.outbox] == [[account.user.email]]
    assert "Inactive" in mail.outbox[0].subject
    assert Notification.objects.get().status == Notification.Status.SENT


def test_a_login_moves_the_day_of_inactivity():
    from hmis_accounts.services import record_hmis_logins

    start = dt.date(2026, 5, 1)
    account = account_last_login(local(start, 9))
    record_hmis_logins(logins={account.hmis_username: local(start + dt.timedelta(days=20), 8)})
    sweep(local(start + dt.timedelta(days=30), 0, 5).isoformat())
    assert _status(account) == Active
    sweep(local(start + dt.timedelta(days=50), 0, 5).isoformat())
    assert _status(account) == Inactive


def test_an_account_never_logged_in_counts_from_provisioning():
    from tests.factories import HMISAccountFactory

    start = dt.date(2026, 5, 1)
    account = HMISAccountFactory(provisioned_at=local(start, 15), last_hmis_login_at=None)
    sweep(local(start + dt.timedelta(days=29), 0, 5).isoformat())
    assert _status(account) == Active
    sweep(local(start + dt.timedelta(days=30), 0, 5).isoformat())
    assert _status(account) == Inactive


def test_killed_half_way_and_run_again_gives_the_same_result_and_sends_nothing_twice():
    start = dt.date(2026, 4, 1)
    due = [account_last_login(local(start, 10)) for _ in range(7)]
    fine = account_last_login(local(start + dt.timedelta(days=5), 10))
    at = local(start + dt.timedelta(days=30), 0, 5)
    # "Killed" after two committed batches of two accounts.
    partial = sweeps.run_inactivity_sweep(at=at, batch_size=2, max_batches=2)
    assert partial.inactive == 4
    assert HMISAccount.objects.filter(status=Inactive).count() == 4
    messages_after_partial = Notification.objects.count()
    rest = sweeps.run_inactivity_sweep(at=at, batch_size=2)
    assert rest.inactive == 3
    again = sweeps.run_inactivity_sweep(at=at, batch_size=2)
    assert again.inactive == 0
    assert {a.pk for a in due} == set(HMISAccount.objects.filter(status=Inactive).values_list("pk", flat=True))
    assert _status(fine) == Active
    assert Notification.objects.count() == messages_after_partial + 3
    assert AuditEvent.objects.filter(verb="made inactive").count() == 7
    keys = list(Notification.objects.values_list("dedupe_key", flat=True))
    assert len(keys) == len(set(keys)) == 7


def test_the_sweep_changes_a_batch_with_a_bounded_number_of_queries(django_assert_max_num_queries):
    start = dt.date(2026, 4, 1)
    for _ in range(30):
        account = account_last_login(local(start, 10))
    agency_admin(account.organization)
    at = local(start + dt.timedelta(days=30), 0, 5)
    # One batch of 30: the same handful of queries as a batch of 1 would need.
    with django_assert_max_num_queries(20):
        result = sweeps.run_inactivity_sweep(at=at, batch_size=100)
    assert result.inactive == 30


def test_a_ready_reactivation_waits_again_when_retraining_becomes_required():
    from hmis_accounts.services import reactivation_request_create

    start = dt.date(2026, 1, 5)
    account = account_last_login(local(start, 10))
    sweep(local(start + dt.timedelta(days=85), 0, 5).isoformat())
    request = reactivation_request_create(actor=account.user, account=account, at=local(start + dt.timedelta(days=85), 9))
    assert request.status == ReactivationRequest.Status.READY
    sweep(local(start + dt.timedelta(days=90), 0, 5).isoformat())
    request.refresh_from_db()
    assert request.status == ReactivationRequest.Status.WAITING_FOR_RETRAINING
    assert request.provisioning_due_at is None


# --- reminders -------------------------------------------------------------

@pytest.mark.parametrize("days, reminded", [(22, False), (23, True), (24, False), (28, False), (29, True)])
def test_reminders_7_and_1_days_before_day_30(days, reminded):
    start = dt.date(2026, 10, 10)  # day 29 falls after the November DST change
    account = account_last_login(local(start, 23, 50))
    at = local(start + dt.timedelta(days=days), 7).isoformat()
    sweep(at, "hmis-inactivity-reminders")
    sweep(at, "hmis-inactivity-reminders")
    sent = list(Notification.objects.filter(to_email=account.user.email))
    assert len(sent) == (1 if reminded else 0)
    if reminded:
        goes_inactive = start + dt.timedelta(days=30)
        assert f"goes Inactive on {day_text(goes_inactive)}" in sent[0].body


@pytest.mark.parametrize("day, reminded", [(1, True), (2, False), (14, False), (15, True), (30, False)])
def test_login_reminders_on_the_1st_and_15th_for_those_who_opt_in(day, reminded):
    today = dt.date(2026, 11, day)
    opted_in = account_last_login(local(today - dt.timedelta(days=3), 9), login_reminders=True)
    account_last_login(local(today - dt.timedelta(days=3), 9), login_reminders=False)
    sweep(local(today, 7, 5).isoformat(), "hmis-login-reminders")
    sweep(local(today, 7, 5).isoformat(), "hmis-login-reminders")
    assert list(Notification.objects.values_list("to_email", flat=True)) == (
        [opted_in.user.email] if reminded else [])


def test_a_reminder_day_past_the_month_s_end_falls_on_its_last_day():
    policy = AccessPolicy.current()
    policy.login_reminder_days_of_month = "15,31"
    policy.save()
    assert sweeps.is_login_reminder_day(dt.date(2026, 11, 30), policy)
    assert not sweeps.is_login_reminder_day(dt.date(2026, 12, 30), policy)
    assert sweeps.is_login_reminder_day(dt.date(2026, 12, 31), policy)


def test_thresholds_are_policy():
    policy = AccessPolicy.current()
    policy.inactive_after_days = 45
    policy.save()
    start = dt.date(2026, 7, 1)
    account = account_last_login(local(start, 10))
    sweep(local(start + dt.timedelta(days=30), 0, 5).isoformat())
    assert _status(account) == Active
    sweep(local(start + dt.timedelta(days=45), 0, 5).isoformat())
    assert _status(account) == Inactive


# --- set-based: the same rows however the sweep is run -----------------------

def _rows():
    """Everything the sweep writes, without ids and insertion moments."""
    from hmis_access.models import HMISAccount as Account

    accounts = sorted(Account.objects.values_list(
        "pk", "status", "inactive_since", "inactive_reason", "must_log_in_by", "retraining_required",
        "retraining_required_on"))
    events = sorted(AuditEvent.objects.values_list(
        "actor_id", "verb", "object_id", "object_repr", "from_state", "to_state", "reason", "data").order_by())
    messages = sorted(Notification.objects.values_list(
        "recipient_id", "to_email", "subject", "body", "link", "dedupe_key", "status", "attempts").order_by())
    assignments = sorted(Account.retraining_courses.through.objects.values_list("hmisaccount_id", "course_id"))
    return accounts, events, messages, assignments


def _mixed_accounts(today):
    from tests.factories import MembershipFactory

    accounts = [account_last_login(local(today - dt.timedelta(days=30 + i % 3), 10)) for i in range(5)]
    accounts += [account_last_login(local(today - dt.timedelta(days=90), 10)) for _ in range(2)]
    lapsed = account_last_login(local(today - dt.timedelta(days=50), 10))
    HMISAccount.objects.filter(pk=lapsed.pk).update(must_log_in_by=today - dt.timedelta(days=1),
                                                    inactivity_counted_from=today - dt.timedelta(days=1))
    account_last_login(local(today - dt.timedelta(days=3), 10))  # not due
    admin = agency_admin(accounts[0].organization)
    MembershipFactory(user=admin, organization=accounts[1].organization, persona="agency_administrator")
    # An administrator who is also one of the due users is told once, as the user.
    MembershipFactory(user=accounts[2].user, organization=accounts[2].organization, persona="agency_administrator")
    return accounts, lapsed, admin


def test_one_run_two_runs_and_a_split_run_write_the_same_rows():
    from django.db import transaction

    today = dt.date(2026, 6, 15)
    at = local(today, 0, 5)
    _mixed_accounts(today)
    outcomes = []
    for runs in ([{}], [{}, {}], [{"batch_size": 2, "max_batches": 1}, {"batch_size": 2}],
                 [{"batch_size": 1, "max_batches": 2}, {"batch_size": 3, "max_batches": 1}, {}]):
        with transaction.atomic():
            for options in runs:
                sweeps.run_inactivity_sweep(at=at, **options)
            outcomes.append(_rows())
            transaction.set_rollback(True)
    assert outcomes[0][0] != []
    assert len(outcomes[0][1]) == 10  # 5 + 2 + 1 made inactive, 2 retraining required
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])


def test_the_messages_read_as_before_with_dates_in_the_coc_s_wording():
    from django.conf import settings
    from django.urls import reverse

    today = dt.date(2026, 6, 15)
    at = local(today, 0, 5)
    accounts, lapsed, admin = _mixed_accounts(today)
    sweeps.run_inactivity_sweep(at=at)
    base = settings.PORTAL_BASE_URL.rstrip("/")
    account = accounts[0]
    mine = Notification.objects.get(to_email=account.user.email)
    assert mine.subject == "HMIS account is now Inactive"
    assert mine.body == (
        f"The HMIS account {account.hmis_username} has had no HMIS login since "
        f"{day_text(today - dt.timedelta(days=30))}, 30 days, so it is now Inactive and cannot be used. "
        "Ask your agency administrator to request reactivation in the portal.\n\n"
        f"{base}{reverse('hmis-account-status')}")
    assert mine.dedupe_key == f"hmis-inactive:{today.isoformat()}:{account.pk}:{account.user.email}"
    theirs = Notification.objects.get(to_email=admin.email, dedupe_key__contains=f":{account.pk}:")
    assert theirs.subject == f"HMIS account is now Inactive: {account.hmis_username}"
    assert theirs.link == reverse("agency-hmis-accounts", kwargs={"slug": account.organization.slug})
    assert theirs.body.endswith(f"\n\n{base}{theirs.link}")
    again = Notification.objects.get(to_email=lapsed.user.email)
    day = today - dt.timedelta(days=1)
    assert f"nobody logged in to HMIS by the end of {day_text(day)}, so it is Inactive again" in again.body
    assert not Notification.objects.filter(to_email=accounts[2].user.email, subject__contains=":").exists()
    retrain = Notification.objects.get(to_email=accounts[5].user.email, subject="HMIS retraining required")
    assert retrain.body.startswith(f"The HMIS account {accounts[5].hmis_username} has had no HMIS login for 90 days.")
    assert AuditEvent.objects.filter(verb="made inactive", object_id=str(account.pk), object_repr=account.hmis_username,
                                     from_state="Active", to_state="Inactive", actor=None).count() == 1


def test_the_account_table_keeps_only_the_indexes_its_queries_read():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("index definitions are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'accounts_hmisaccount'")
        names = {row[0] for row in cursor.fetchall()}
    assert not [name for name in names if name.endswith("_like")]
    assert "hmis_account_status" not in names
    assert {"hmis_inactivity_due", "hmis_reactivation_login_due", "hmis_retraining_due",
            "hmis_login_reminder_opt_in", "hmis_account_org_status"} <= names


# --- split into chunks over ranges of account ids -----------------------------

def test_one_chunk_and_several_chunks_write_the_same_rows(settings):
    from django.db import transaction

    from hmis_accounts.tasks import hmis_inactivity_sweep

    today = dt.date(2026, 6, 15)
    at = local(today, 0, 5)
    _mixed_accounts(today)
    outcomes = []
    for parts in (1, 2, 3, 20):
        with transaction.atomic():
            ranges = sweeps.account_ranges(parts)
            assert len(ranges) == min(parts, HMISAccount.objects.count())
            for first, last in ranges:
                sweeps.run_inactivity_sweep(at=at, ids=(first, last), batch_size=2)
            outcomes.append(_rows())
            transaction.set_rollback(True)
    # The daily job itself: a group of chunks, run here (eager tasks).
    settings.SWEEP_CHUNKS = 3
    with transaction.atomic():
        summary = hmis_inactivity_sweep(at=at.isoformat())
        outcomes.append(_rows())
        transaction.set_rollback(True)
    assert summary == ("7 made Inactive (no login), 1 made Inactive again (no login in time after reactivation), "
                       "2 now need retraining")
    assert len(outcomes[0][1]) == 10
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])


def test_a_chunk_acts_only_on_its_own_accounts():
    today = dt.date(2026, 6, 15)
    accounts, lapsed, admin = _mixed_accounts(today)
    first, second = sweeps.account_ranges(2)
    result = sweeps.run_inactivity_sweep(at=local(today, 0, 5), ids=first)
    changed = {int(pk) for pk in AuditEvent.objects.values_list("object_id", flat=True)}
    assert changed and all(first[0] <= pk <= first[1] for pk in changed)
    assert result.inactive + result.inactive_after_reactivation + result.retraining == len(
        AuditEvent.objects.filter(verb__in=["made inactive", "retraining required"]))
    assert not HMISAccount.objects.filter(pk__gte=second[0], status=Inactive, inactive_reason="no_login").exists()


def test_a_chunk_killed_and_run_again_gives_the_same_rows(monkeypatch):
    from django.db import transaction

    today = dt.date(2026, 6, 15)
    at = local(today, 0, 5)
    _mixed_accounts(today)
    with transaction.atomic():
        for first, last in sweeps.account_ranges(2):
            sweeps.run_inactivity_sweep(at=at, ids=(first, last))
        expected = _rows()
        transaction.set_rollback(True)

    first, second = sweeps.account_ranges(2)
    # The first chunk's worker dies after one committed batch, in the middle
    # of its second one (after the claim, before the messages).
    tell = sweeps.HMISSweep._tell
    calls = []

    def dies_on_the_second_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return tell(self, *args, **kwargs)

    monkeypatch.setattr(sweeps.HMISSweep, "_tell", dies_on_the_second_batch)
    with pytest.raises(SystemExit):
        sweeps.run_inactivity_sweep(at=at, ids=first, batch_size=1)
    monkeypatch.setattr(sweeps.HMISSweep, "_tell", tell)
    assert 0 < AuditEvent.objects.count() < len(expected[1])
    # The chunk is delivered again (acks late), and runs to the end.
    sweeps.run_inactivity_sweep(at=at, ids=first)
    sweeps.run_inactivity_sweep(at=at, ids=second)
    sweeps.run_inactivity_sweep(at=at, ids=first)  # and once more: nothing
    assert _rows() == expected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_same_accounts_at_once_act_once(policy_rows):
    from tests.concurrency import race

    today = dt.date(2026, 6, 15)
    at = local(today, 0, 5)
    accounts = [account_last_login(local(today - dt.timedelta(days=30), 10)) for _ in range(12)]
    accounts += [account_last_login(local(today - dt.timedelta(days=90), 10)) for _ in range(4)]
    agency_admin(accounts[0].organization)
    whole = sweeps.account_ranges(1)[0]
    half = sweeps.account_ranges(2)[0]
    # The same chunk twice (a redelivered task next to the first), and a chunk
    # overlapping a whole run, small batches so they interleave.
    outcomes = race(lambda: sweeps.run_inactivity_sweep(at=at, ids=whole, batch_size=2),
                    lambda: sweeps.run_inactivity_sweep(at=at, ids=whole, batch_size=2),
                    lambda: sweeps.run_inactivity_sweep(at=at, ids=half, batch_size=1))
    assert outcomes == ["done"] * 3
    made_inactive = list(AuditEvent.objects.filter(verb="made inactive").values_list("object_id", flat=True))
    assert sorted(made_inactive) == sorted(str(a.pk) for a in accounts)
    retraining = list(AuditEvent.objects.filter(verb="retraining required").values_list("object_id", flat=True))
    assert sorted(retraining) == sorted(str(a.pk) for a in accounts[12:])
    # One message per account and recipient: the user, and the administrator
    # of the first account's agency.
    assert Notification.objects.filter(subject="HMIS account is now Inactive").count() == 16
    assert Notification.objects.filter(subject="HMIS retraining required").count() == 4
    assert not HMISAccount.objects.filter(status=Active).exists()


@pytest.mark.postgres
def test_a_batch_reads_its_own_users_not_the_whole_user_table():
    """Each batch tells its accounts' users, looked up by id: joined on the
    account's user id alone, the planner read every user for every batch,
    which made a run over n accounts cost (n / batch) scans of n users."""
    from django.db import connection

    from accounts.models import User
    from tests.hmis_access.hmis import many_accounts

    today = dt.date(2026, 6, 15)
    last_login = local(today - dt.timedelta(days=3), 10)
    due_login = local(today - dt.timedelta(days=30), 10)
    many_accounts({f"member{n:05d}": due_login if n % 10 == 0 else last_login for n in range(6000)})

    def scans():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {User._meta.db_table}")
            cursor.execute("SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_xact_user_tables WHERE relname = %s",
                           [User._meta.db_table])
            return cursor.fetchone()[0]

    before = scans()
    result = sweeps.run_inactivity_sweep(at=local(today, 0, 5), batch_size=200)
    assert result.inactive == 600
    assert scans() == before  # three batches, no scan of the user table
    assert Notification.objects.filter(subject="HMIS account is now Inactive").count() == 600
