"""The provisioning deadline in clock hours (seed 004: "create user account
within 24 – 48" hours) next to business days (seed 000): the policy, the
stored due moment, one wording on every page and email, the sweep, the SLA,
the policy pack, and the indexes its queries read."""

import datetime as dt
import io
import json
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from hmis_accounts import services as activity
from hmis_access.models import AccessPolicy, AccessRequest, HMISAccount
from hmis_accounts.models import ReactivationRequest
from hmis_access.provisioning import monthly_sla, provisioning_due, provisioning_queue
from hmis_access.services import access_request_grant
from hmis_portal.core.calendar import end_of_day
from hmis_portal.core.dates import deadline_text
from hmis_portal.core.models import AuditEvent, Notification
from tests.factories import HMISAccountFactory, MembershipFactory, StaffFactory
from tests.hmis_access.hmis import agency_admin
from tests.training.factories import finish_everything, identify, manager_of, participating

pytestmark = pytest.mark.django_db
LA = zoneinfo.ZoneInfo("America/Los_Angeles")
FRIDAY_3_40_PM = dt.datetime(2026, 11, 20, 15, 40, tzinfo=LA)


def in_hours(hours=48):
    AccessPolicy.objects.filter(pk=1).update(provisioning_business_days=None, provisioning_hours=hours)


@pytest.fixture
def agency(organization):
    participating(organization, "access-center")
    return organization


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


@pytest.fixture
def provisioner():
    return StaffFactory(groups=["CoC provisioning"])


def _ready(agency, trainer, when):
    with time_machine.travel(when, tick=False):
        return finish_everything(identify(agency, programs=list(agency.programs.all())), trainer)


def sweep(at):
    call_command("run_sweeps", "--at", at, "--only", "provisioning-deadlines", stdout=io.StringIO())


# --- the policy -------------------------------------------------------------

def test_the_policy_gives_the_deadline_in_business_days_or_in_hours_never_both_or_neither():
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (3, None)
    policy.full_clean()
    for days, hours in ((3, 48), (None, None)):
        policy.provisioning_business_days, policy.provisioning_hours = days, hours
        with pytest.raises(ValidationError, match="provisioning deadline"):
            policy.full_clean()
    for hours in (0, 721):
        policy.provisioning_business_days, policy.provisioning_hours = None, hours
        with pytest.raises(ValidationError):
            policy.full_clean()
    policy.provisioning_hours = 48
    policy.full_clean()


@pytest.mark.parametrize("days, hours", [(3, 48), (None, None)])
def test_the_database_refuses_both_or_neither(days, hours):
    with pytest.raises(IntegrityError), transaction.atomic():
        AccessPolicy.objects.filter(pk=AccessPolicy.current().pk).update(
            provisioning_business_days=days, provisioning_hours=hours)


def test_the_admin_form_says_what_is_wrong(client):
    client.force_login(StaffFactory(groups=["CoC system admin"], is_superuser=True))
    url = reverse("admin:hmis_access_accesspolicy_change", args=[AccessPolicy.current().pk])
    page = client.get(url)
    assert page.status_code == 200
    form = {field: value for field, value in page.context["adminform"].form.initial.items()
            if not isinstance(value, list) and value is not None}
    form.update(provisioning_business_days="3", provisioning_hours="48")
    response = client.post(url, form)
    assert response.status_code == 200
    assert "not both" in response.content.decode()
    assert AccessPolicy.current().provisioning_hours is None


# --- the due moment ----------------------------------------------------------

def test_hours_count_weekends_48_hours_from_friday_3_40_pm_is_sunday_3_40_pm():
    in_hours(48)
    assert provisioning_due(FRIDAY_3_40_PM) == dt.datetime(2026, 11, 22, 15, 40, tzinfo=LA)
    in_hours(24)
    assert provisioning_due(FRIDAY_3_40_PM) == dt.datetime(2026, 11, 21, 15, 40, tzinfo=LA)


def test_hours_are_elapsed_hours_across_a_daylight_saving_change():
    in_hours(48)
    # Clocks go back an hour at 2 a.m. on Sun Nov 1, 2026: 48 elapsed hours end at 2:40 PM local.
    due = provisioning_due(dt.datetime(2026, 10, 30, 15, 40, tzinfo=LA))
    assert due == dt.datetime(2026, 11, 1, 14, 40, tzinfo=LA)
    assert deadline_text(due) == "Due by 2:40 PM Sun, Nov 1"
    # Clocks go forward on Sun Mar 8, 2026: 48 elapsed hours end at 4:40 PM local.
    assert provisioning_due(dt.datetime(2026, 3, 6, 15, 40, tzinfo=LA)) == dt.datetime(2026, 3, 8, 16, 40, tzinfo=LA)


def test_a_day_deadline_is_the_end_of_the_due_business_day():
    # Wednesday before Thanksgiving → following Tuesday, by the end of it.
    due = provisioning_due(dt.datetime(2026, 11, 25, 9, tzinfo=LA))
    assert due == end_of_day(dt.date(2026, 12, 1))
    assert deadline_text(due) == "Due by end of Tue, Dec 1"


def test_a_request_that_becomes_ready_stores_the_hour_deadline_and_says_it(agency, trainer, provisioner):
    in_hours(48)
    request = _ready(agency, trainer, FRIDAY_3_40_PM)
    assert request.status == AccessRequest.Status.READY
    assert request.provisioning_due_at == dt.datetime(2026, 11, 22, 15, 40, tzinfo=LA)
    mail = Notification.objects.get(to_email=provisioner.email, subject__contains="ready to provision")
    assert "Due by 3:40 PM Sun, Nov 22." in mail.body
    assert Notification.objects.filter(to_email=request.user.email, body__contains="Due by 3:40 PM Sun, Nov 22").exists()


def test_a_reactivation_follows_the_hour_deadline_too(provisioner):
    in_hours(24)
    account = HMISAccountFactory(status=HMISAccount.Status.INACTIVE)
    MembershipFactory(user=account.user, organization=account.organization)  # still with the agency
    admin = agency_admin(account.organization)
    with time_machine.travel(FRIDAY_3_40_PM, tick=False):
        request = activity.reactivation_request_create(actor=admin, account=account)
    assert request.status == ReactivationRequest.Status.READY
    assert request.provisioning_due_at == dt.datetime(2026, 11, 21, 15, 40, tzinfo=LA)
    assert Notification.objects.filter(to_email=provisioner.email, body__contains="Due by 3:40 PM Sat, Nov 21").exists()
    assert Notification.objects.filter(to_email=account.user.email, body__contains="Due by 3:40 PM Sat, Nov 21").exists()


# --- the queue and the pages ---------------------------------------------------

def test_the_queue_counts_hours_left_and_flags_due_today_and_overdue(agency, trainer):
    in_hours(48)
    request = _ready(agency, trainer, FRIDAY_3_40_PM)            # due Sun Nov 22, 3:40 PM
    (entry,) = provisioning_queue(now=dt.datetime(2026, 11, 21, 9, tzinfo=LA))
    assert (entry.item.pk, entry.overdue, entry.due_today, entry.left_text) == (request.pk, False, False, "30 hours")
    (entry,) = provisioning_queue(now=dt.datetime(2026, 11, 22, 9, tzinfo=LA))
    assert (entry.overdue, entry.due_today, entry.left_text) == (False, True, "6 hours")
    (entry,) = provisioning_queue(now=dt.datetime(2026, 11, 22, 15, 40, tzinfo=LA))
    assert (entry.overdue, entry.due_today) == (True, False)
    (entry,) = provisioning_queue(now=dt.datetime(2026, 11, 22, 18, 50, tzinfo=LA))
    assert (entry.overdue, entry.left_text) == (True, "3 hours")


def test_day_and_hour_deadlines_sort_together_in_the_queue(agency, trainer):
    day = _ready(agency, trainer, dt.datetime(2026, 11, 16, 9, tzinfo=LA))   # by the end of Thu Nov 19
    in_hours(48)
    hour = _ready(agency, trainer, dt.datetime(2026, 11, 17, 9, tzinfo=LA))  # by 9:00 AM Thu Nov 19
    entries = provisioning_queue(now=dt.datetime(2026, 11, 19, 8, tzinfo=LA))
    assert [e.item.pk for e in entries] == [hour.pk, day.pk]
    assert [e.left_text for e in entries] == ["1 hour", "0 business days"]
    assert all(e.due_today for e in entries)


def test_every_page_words_an_hour_deadline_the_same_way(client, agency, trainer, provisioner):
    in_hours(48)
    request = _ready(agency, trainer, FRIDAY_3_40_PM)
    wording = "Due by 3:40 PM Sun, Nov 22"
    with time_machine.travel(dt.datetime(2026, 11, 21, 9, tzinfo=LA)):
        client.force_login(provisioner)
        queue = client.get(reverse("provisioning-queue")).content.decode()
        assert wording in queue and "30 hours" in queue
        home = client.get(reverse("home")).content.decode()
        assert f"Grant HMIS access to {request.user}" in home and wording in home
        grant = client.get(reverse("admin:hmis_access_accessrequest_grant", args=[request.pk])).content.decode()
        assert wording in grant
        client.force_login(request.user)
        assert wording in client.get(reverse("my-access")).content.decode()
        lead = manager_of(agency)
        client.force_login(lead)
        assert wording in client.get(reverse("agency-users", kwargs={"slug": agency.slug})).content.decode()
        agency_page = client.get(reverse("onboarding:participation", kwargs={"slug": agency.slug})).content.decode()
        assert "ready for provisioning (due by 3:40 PM Sun, Nov 22)" in agency_page


def test_the_home_page_puts_an_overdue_hour_deadline_first(client, agency, trainer, provisioner):
    _ready(agency, trainer, dt.datetime(2026, 11, 16, 9, tzinfo=LA))          # by the end of Thu Nov 19
    in_hours(4)
    late = _ready(agency, trainer, dt.datetime(2026, 11, 18, 9, tzinfo=LA))   # by 1:00 PM Wed Nov 18
    with time_machine.travel(dt.datetime(2026, 11, 18, 14, tzinfo=LA)):
        client.force_login(provisioner)
        home = client.get(reverse("home")).content.decode()
    assert home.index(f"Grant HMIS access to {late.user}") < home.index("Due by end of Thu, Nov 19")
    assert "Overdue: Due by 1:00 PM Wed, Nov 18" in home


# --- the sweep ------------------------------------------------------------------

def test_the_sweep_flags_an_hour_deadline_due_today_then_escalates_it_the_same_day_once(agency, trainer,
                                                                                       provisioner):
    admin = StaffFactory(groups=["CoC system admin"])
    in_hours(48)
    request = _ready(agency, trainer, FRIDAY_3_40_PM)           # due Sun Nov 22, 3:40 PM
    Notification.objects.all().delete()

    sweep("2026-11-21T07:00")   # Saturday: due tomorrow, nothing yet
    assert not Notification.objects.exists()
    for _ in range(2):           # Sunday morning: due today, flagged once
        sweep("2026-11-22T07:00")
    due = Notification.objects.filter(subject__startswith="Due today")
    assert list(due.values_list("to_email", flat=True)) == [provisioner.email]
    assert "Due by 3:40 PM Sun, Nov 22." in due.get().body
    sweep("2026-11-22T15:39")   # still before the deadline
    assert not Notification.objects.filter(subject__startswith="OVERDUE").exists()
    for _ in range(2):           # Sunday afternoon, past 3:40 PM: escalated once
        sweep("2026-11-22T16:00")
    overdue = Notification.objects.filter(subject__startswith="OVERDUE")
    assert set(overdue.values_list("to_email", flat=True)) == {provisioner.email, admin.email}
    assert AuditEvent.objects.filter(verb="flagged due today", object_id=str(request.pk)).count() == 1
    assert AuditEvent.objects.filter(verb="escalated overdue provisioning", object_id=str(request.pk)).count() == 1
    sweep("2026-11-23T07:00")   # the next day: escalated again, once
    sweep("2026-11-23T12:00")
    assert AuditEvent.objects.filter(verb="escalated overdue provisioning", object_id=str(request.pk)).count() == 2
    assert Notification.objects.filter(subject__startswith="Due today").count() == 1


def test_a_short_hour_deadline_missed_before_the_morning_sweep_is_escalated_not_flagged(agency, trainer,
                                                                                      provisioner):
    in_hours(4)
    request = _ready(agency, trainer, dt.datetime(2026, 11, 23, 22, tzinfo=LA))   # due 2:00 AM Tue Nov 24
    Notification.objects.all().delete()
    sweep("2026-11-23T23:00")   # Monday night: due tomorrow
    assert not Notification.objects.exists()
    sweep("2026-11-24T07:00")
    assert not Notification.objects.filter(subject__startswith="Due today").exists()
    assert AuditEvent.objects.filter(verb="escalated overdue provisioning", object_id=str(request.pk)).count() == 1


def test_a_granted_hour_request_leaves_the_sweep(agency, trainer, provisioner):
    in_hours(48)
    request = _ready(agency, trainer, FRIDAY_3_40_PM)
    access_request_grant(actor=provisioner, access_request_id=request.pk, hmis_username="u1", hmis_role="CES_Standard",
                         now=dt.datetime(2026, 11, 22, 10, tzinfo=LA))
    Notification.objects.all().delete()
    sweep("2026-11-22T16:00")
    assert not Notification.objects.exists()


# --- the SLA ---------------------------------------------------------------------

def test_the_sla_compares_with_the_due_moment_and_counts_hours_for_an_hour_policy(client, agency, trainer,
                                                                                  provisioner):
    in_hours(48)
    # Ready Fri Nov 20, 3:40 PM (due Sun 3:40 PM): granted after 10 h, 47 h (on time) and 49 h (late).
    for hours in (10, 47, 49):
        request = _ready(agency, trainer, FRIDAY_3_40_PM)
        access_request_grant(actor=provisioner, access_request_id=request.pk, hmis_username=f"u{request.pk}",
                             hmis_role="CES_Standard", now=FRIDAY_3_40_PM + dt.timedelta(hours=hours))
    (november,) = monthly_sla(today=dt.date(2026, 11, 30))
    assert (november.provisioned, november.on_time, november.median_time) == (3, 2, 47)
    late = AccessRequest.objects.get(hmis_username=f"u{request.pk}")
    assert AuditEvent.objects.filter(object_id=str(late.pk), verb="granted HMIS access",
                                     reason__endswith="(after the deadline)").exists()
    client.force_login(provisioner)
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, tzinfo=LA)):
        page = client.get(reverse("provisioning-sla")).content.decode()
    assert "Median hours" in page and "Median business days" not in page


def test_the_sla_of_a_day_policy_counts_business_days(client, provisioner):
    client.force_login(provisioner)
    assert "Median business days" in client.get(reverse("provisioning-sla")).content.decode()


# --- the policy pack ----------------------------------------------------------------

GOOD = {"access_policy": {"provisioning_hours": 48, "inactive_after_days": 30, "retraining_after_days": 90}}


def _pack(tmp_path, access):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps({"access_policy": access}, indent=2))
    return path


def _load(path):
    out, err = io.StringIO(), io.StringIO()
    call_command("load_policy", str(path), stdout=out, stderr=err)
    return out.getvalue()


def test_a_pack_in_hours_loads_and_empties_the_business_days_and_back(tmp_path):
    _load(_pack(tmp_path, GOOD["access_policy"]))
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (None, 48)
    assert _load(_pack(tmp_path, GOOD["access_policy"])).splitlines()[-1] == "Nothing changed."
    _load("la")
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (3, None)


@pytest.mark.parametrize("access, marker, where, message", [
    ({"provisioning_hours": 0}, '"provisioning_hours"', "access_policy.provisioning_hours", "must be 1 or more, not 0"),
    ({"provisioning_hours": -5}, '"provisioning_hours"', "access_policy.provisioning_hours",
     "must be 1 or more, not -5"),
    ({"provisioning_hours": 100000}, '"provisioning_hours"', "access_policy.provisioning_hours",
     "100000 is too large (at most 720)"),
    ({"provisioning_hours": 4.5}, '"provisioning_hours"', "access_policy.provisioning_hours", "must be a whole number"),
    ({"provisioning_business_days": 3, "provisioning_hours": 48}, '"provisioning_hours"',
     "access_policy.provisioning_hours", "not both"),
    ({"inactive_after_days": 30}, '"access_policy"', "access_policy", "the provisioning deadline is missing"),
])
def test_a_broken_deadline_in_a_pack_names_file_and_line_and_loads_nothing(tmp_path, access, marker, where,
                                                                           message):
    from django.core.management.base import CommandError

    path = _pack(tmp_path, access)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if marker in text)
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:{line}: {where}: " in err.getvalue() and message in err.getvalue(), err.getvalue()
    policy = AccessPolicy.current()
    assert (policy.provisioning_business_days, policy.provisioning_hours) == (3, None)


# --- the indexes the due-date queries read (PostgreSQL) ------------------------------

def _plan(queryset):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        return " ".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.parametrize("model, index", [(AccessRequest, "access_request_due"),
                                          (ReactivationRequest, "reactivation_queue")])
def test_the_queue_and_the_sweep_read_the_deadline_index(model, index):
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    moment = dt.datetime(2026, 11, 22, 16, tzinfo=LA)
    waiting = model.awaiting_provisioning()
    queries = {
        "queue": waiting.order_by("provisioning_due_at", "pk"),
        "due today": waiting.filter(provisioning_due_at__gt=moment, provisioning_due_at__lte=end_of_day(
            moment.date())).order_by("provisioning_due_at", "pk")[:500],
        "missed": waiting.filter(provisioning_due_at__lte=moment).order_by("provisioning_due_at", "pk")[:500],
    }
    with transaction.atomic():
        for name, queryset in queries.items():
            assert index in _plan(queryset), name


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("policy_rows")
def test_two_sweeps_at_once_flag_and_escalate_an_hour_deadline_once(organization):
    from hmis_access.provisioning import sweep_deadlines
    from tests.concurrency import race
    from tests.training.factories import ensure_policy

    ensure_policy()
    in_hours(48)
    participating(organization, "access-center")
    provisioner = StaffFactory(groups=["CoC provisioning"])
    request = _ready(organization, StaffFactory(groups=["CoC training"]), FRIDAY_3_40_PM)
    for moment in (dt.datetime(2026, 11, 22, 7, tzinfo=LA), dt.datetime(2026, 11, 22, 16, tzinfo=LA)):
        assert race(lambda: sweep_deadlines(moment=moment), lambda: sweep_deadlines(moment=moment)) == ["done", "done"]
    assert AuditEvent.objects.filter(verb="flagged due today", object_id=str(request.pk)).count() == 1
    assert AuditEvent.objects.filter(verb="escalated overdue provisioning", object_id=str(request.pk)).count() == 1
    assert Notification.objects.filter(to_email=provisioner.email, subject__startswith="OVERDUE").count() == 1
