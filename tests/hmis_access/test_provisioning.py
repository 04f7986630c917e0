"""The provisioning queue, the deadline sweep, the SLA figure, and the
agency's pages (query counts, clear messages)."""

import datetime as dt
import re
import zoneinfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from hmis_access.models import AccessRequest
from hmis_access.provisioning import monthly_sla, provisioning_queue
from hmis_access.services import access_request_grant
from hmis_portal.core.calendar import end_of_day
from hmis_portal.core.models import AuditEvent, Notification
from tests.factories import MembershipFactory, StaffFactory
from tests.training.factories import finish_everything, identify, manager_of, participating

pytestmark = pytest.mark.django_db
LA = zoneinfo.ZoneInfo("America/Los_Angeles")


@pytest.fixture
def agency(organization):
    participating(organization, "access-center")
    return organization


@pytest.fixture
def trainer():
    return StaffFactory(groups=["CoC training"])


def _ready(agency, trainer, when):
    with time_machine.travel(when):
        return finish_everything(identify(agency, programs=list(agency.programs.all())), trainer)


def test_queue_is_ordered_by_deadline_with_business_days_left(agency, trainer):
    later = _ready(agency, trainer, dt.datetime(2026, 11, 30, 10, tzinfo=LA))   # due Thu Dec 3
    sooner = _ready(agency, trainer, dt.datetime(2026, 11, 24, 10, tzinfo=LA))  # due Mon Nov 30
    entries = provisioning_queue(now=dt.datetime(2026, 12, 1, 9, tzinfo=LA))
    assert [e.item.pk for e in entries] == [sooner.pk, later.pk]
    assert [(e.due_at, e.left, e.left_text, e.overdue) for e in entries] == [
        (end_of_day(dt.date(2026, 11, 30)), -1, "1 business day", True),
        (end_of_day(dt.date(2026, 12, 3)), 2, "2 business days", False)]


def test_sweep_flags_due_today_and_escalates_overdue_once_per_day(agency, trainer):
    provisioning = StaffFactory(groups=["CoC provisioning"])
    admin = StaffFactory(groups=["CoC system admin"])
    due_today = _ready(agency, trainer, dt.datetime(2026, 11, 25, 9, tzinfo=LA))   # due Dec 1
    overdue = _ready(agency, trainer, dt.datetime(2026, 11, 20, 9, tzinfo=LA))     # due Nov 27
    Notification.objects.all().delete()

    for _ in range(2):  # a re-run the same day sends nothing new
        call_command("run_sweeps", "--at", "2026-12-01T07:00", "--only", "provisioning-deadlines")
    overdue_mail = Notification.objects.filter(subject__startswith="OVERDUE")
    assert set(overdue_mail.values_list("to_email", flat=True)) == {provisioning.email, admin.email}
    assert overdue_mail.count() == 2
    due_mail = Notification.objects.filter(subject__startswith="Due today")
    assert list(due_mail.values_list("to_email", flat=True)) == [provisioning.email]
    assert AuditEvent.objects.filter(verb="escalated overdue provisioning", object_id=str(overdue.pk)).count() == 1
    assert AuditEvent.objects.filter(verb="flagged due today", object_id=str(due_today.pk)).count() == 1

    # The next day both are overdue and escalated again, once.
    call_command("run_sweeps", "--at", "2026-12-02T07:00", "--only", "provisioning-deadlines")
    call_command("run_sweeps", "--at", "2026-12-02T15:00", "--only", "provisioning-deadlines")
    assert Notification.objects.filter(subject__startswith="OVERDUE").count() == 6
    assert AuditEvent.objects.filter(verb="escalated overdue provisioning").count() == 3


def test_sweep_ignores_granted_and_open_requests(agency, trainer):
    granted = _ready(agency, trainer, dt.datetime(2026, 11, 20, 9, tzinfo=LA))
    access_request_grant(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=granted.pk,
                         hmis_username="u1", hmis_role="CES_Standard")
    identify(agency, programs=list(agency.programs.all()))
    Notification.objects.all().delete()
    call_command("run_sweeps", "--at", "2026-12-01T07:00", "--only", "provisioning-deadlines")
    assert not Notification.objects.exists()


def test_monthly_sla_share_on_time_and_median_business_days(agency, trainer):
    staff = StaffFactory(groups=["CoC provisioning"])
    # Ready Mon Nov 2 (due Thu Nov 5): granted Nov 4 (2 days), Nov 10 (late, 6 days), Nov 5 (3 days).
    for granted_on in (dt.date(2026, 11, 4), dt.date(2026, 11, 10), dt.date(2026, 11, 5)):
        request = _ready(agency, trainer, dt.datetime(2026, 11, 2, 9, tzinfo=LA))
        access_request_grant(actor=staff, access_request_id=request.pk, hmis_username=f"u{request.pk}",
                             hmis_role="CES_Standard", now=dt.datetime.combine(granted_on, dt.time(11), tzinfo=LA))
    (november,) = monthly_sla(today=dt.date(2026, 11, 30))
    assert (november.month, november.provisioned, november.on_time) == (dt.date(2026, 11, 1), 3, 2)
    assert november.median_time == 3
    assert round(november.on_time_share, 3) == 0.667


def test_monthly_sla_reads_on_a_database_that_refuses_ordered_parts_of_a_union(agency, trainer, monkeypatch):
    """SQLite, the embedded default (`make run`), refuses ORDER BY inside a
    UNION's parts; the report's one query must not carry its models' ordering."""
    from django.db import connection

    staff = StaffFactory(groups=["CoC provisioning"])
    request = _ready(agency, trainer, dt.datetime(2026, 11, 2, 9, tzinfo=LA))
    access_request_grant(actor=staff, access_request_id=request.pk, hmis_username="u1", hmis_role="CES_Standard",
                         now=dt.datetime(2026, 11, 4, 11, tzinfo=LA))
    monkeypatch.setattr(connection.features, "supports_slicing_ordering_in_compound", False)
    (november,) = monthly_sla(today=dt.date(2026, 11, 30))
    assert (november.provisioned, november.on_time) == (1, 1)


def test_the_provisioning_chart_draws_the_coc_s_target_and_says_met_or_not_in_words(
        client, agency, trainer, django_assert_max_num_queries):
    """Like the referral timeliness chart: a row per month ("Nov 2026"), the
    share provisioned by the deadline, the CoC's target (its access policy
    row) as a dashed line, and met or not met in words; one query whatever
    the number of months."""
    from hmis_access.models import AccessPolicy

    staff = StaffFactory(groups=["CoC provisioning"])

    def provision(ready, granted_on):
        request = _ready(agency, trainer, ready)
        access_request_grant(actor=staff, access_request_id=request.pk, hmis_username=f"u{request.pk}",
                             hmis_role="CES_Standard", now=dt.datetime.combine(granted_on, dt.time(11), tzinfo=LA))

    # Ready Mon Nov 2 (due Thu Nov 5): two on time, one late: 67%.
    for granted_on in (dt.date(2026, 11, 4), dt.date(2026, 11, 10), dt.date(2026, 11, 5)):
        provision(dt.datetime(2026, 11, 2, 9, tzinfo=LA), granted_on)
    AccessPolicy.objects.update(provisioning_target_percent=90)
    AccessPolicy.objects.get().save()  # as the admin saves it: every page reads it again
    client.force_login(staff)
    url = reverse("provisioning-sla")
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, tzinfo=LA)):
        with django_assert_max_num_queries(30) as one_month:
            response = client.get(url)
    chart = str(response.context["chart"])
    assert "Target 90%" in chart and ">Nov 2026<" in chart
    assert "67% ✗" in chart and "not met" in chart
    # Ready Mon Oct 5 (due Thu Oct 8), granted Oct 6: 100%; Sep 2026 likewise.
    provision(dt.datetime(2026, 10, 5, 9, tzinfo=LA), dt.date(2026, 10, 6))
    provision(dt.datetime(2026, 9, 7, 9, tzinfo=LA), dt.date(2026, 9, 8))
    AccessPolicy.objects.update(provisioning_target_percent=60)
    AccessPolicy.objects.get().save()
    with time_machine.travel(dt.datetime(2026, 11, 30, 9, tzinfo=LA)):
        with django_assert_max_num_queries(len(one_month.captured_queries)):
            page = client.get(url).content.decode()
    figure = page.split("<figure", 1)[1].split("</figure>", 1)[0]
    assert "Target 60%" in figure and "67% ✓" in figure and "60% or more" in figure
    assert ">Oct 2026<" in figure and ">Sep 2026<" in figure and "100% ✓" in figure
    assert "90%" not in figure and 'stroke-dasharray' in figure


def test_a_pack_sets_the_provisioning_target_and_a_share_over_100_is_refused(tmp_path):
    import io
    import json

    from django.core.management.base import CommandError

    from hmis_access.models import AccessPolicy

    path = tmp_path / "pack.json"
    path.write_text(json.dumps({"access_policy": {"provisioning_business_days": 3,
                                                  "provisioning_target_percent": 75}}))
    call_command("load_policy", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert AccessPolicy.current().provisioning_target_percent == 75
    path.write_text(json.dumps({"access_policy": {"provisioning_business_days": 3,
                                                  "provisioning_target_percent": 101}}))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=io.StringIO(), stderr=err)
    assert "provisioning_target_percent" in err.getvalue()
    assert AccessPolicy.current().provisioning_target_percent == 75


def test_agency_users_list_shows_blockers_in_constant_queries(client, agency, trainer,
                                                               django_assert_max_num_queries):
    lead = manager_of(agency)
    for _ in range(2):
        identify(agency, programs=list(agency.programs.all()))
    client.force_login(lead)
    url = reverse("agency-users", kwargs={"slug": agency.slug})
    with django_assert_max_num_queries(30) as few:
        client.get(url)
    for _ in range(5):
        identify(agency, programs=list(agency.programs.all()))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count("HMIS 10 (3 h, webinar)") == 7


def test_provisioning_queue_page_in_constant_queries(client, agency, trainer, django_assert_max_num_queries):
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    _ready(agency, trainer, timezone.now() - dt.timedelta(days=20))
    with django_assert_max_num_queries(30) as few:
        client.get(reverse("provisioning-queue"))
    for _ in range(4):
        _ready(agency, trainer, timezone.now() - dt.timedelta(days=20))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("provisioning-queue"))
    assert response.content.decode().count("Overdue by") == 5


def test_the_identify_form_shows_a_clear_message_and_changes_nothing(client, agency, outsider):
    lead = manager_of(agency)
    client.force_login(lead)
    from training.models import CESRole

    response = client.post(reverse("access-request-new", kwargs={"slug": agency.slug}), {
        "full_name": "Someone", "email": outsider.email, "new_hmis_user": "new",
        "roles": [CESRole.objects.get(code="housing-navigator").pk],
        "programs": [agency.programs.get().pk]})
    assert response.status_code == 200
    assert "already used by a person at another agency" in response.content.decode()
    response = client.post(reverse("access-request-new", kwargs={"slug": agency.slug}), {
        "full_name": "Someone", "email": "someone@example.org", "new_hmis_user": "new",
        "roles": [CESRole.objects.get(code="housing-provider").pk], "programs": []})
    assert "needs a program of type Permanent Housing" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_the_user_sees_their_own_checklist_but_not_a_colleague_s(client, agency):
    mine = identify(agency, programs=list(agency.programs.all()))
    theirs = identify(agency, programs=list(agency.programs.all()))
    client.force_login(mine.user)
    page = client.get(reverse("my-access")).content.decode()
    assert "HMIS 509 full class" in page and "CES_Standard" in page
    own = client.get(reverse("access-request-detail", kwargs={"slug": agency.slug, "pk": mine.pk}))
    assert own.status_code == 200
    other = client.get(reverse("access-request-detail", kwargs={"slug": agency.slug, "pk": theirs.pk}))
    assert other.status_code == 403


def test_home_page_tasks_for_the_user_the_agency_and_provisioning(client, agency, trainer):
    request = identify(agency, programs=list(agency.programs.all()))
    client.force_login(request.user)
    assert "Finish your HMIS access checklist (4 items left)" in client.get(reverse("home")).content.decode()
    client.force_login(manager_of(agency))
    assert "1 user working through the HMIS access checklist" in client.get(reverse("home")).content.decode()
    finish_everything(request, trainer)
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    assert f"Grant HMIS access to {request.user}" in client.get(reverse("home")).content.decode()


def test_admin_grant_view_refuses_a_request_that_is_not_ready(client, agency):
    request = identify(agency, programs=list(agency.programs.all()))
    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    response = client.post(reverse("admin:hmis_access_accessrequest_grant", args=[request.pk]),
                           {"hmis_username": "x", "hmis_role": "CES_Standard"}, follow=True)
    assert "not ready for provisioning" in response.content.decode()
    request.refresh_from_db()
    assert request.status == "open"
    client.force_login(StaffFactory(groups=["CoC training"]))
    assert client.get(reverse("admin:hmis_access_accessrequest_grant", args=[request.pk])).status_code == 403


def test_a_program_manager_s_home_reads_the_access_requests_once(client, agency):
    """Their agency's open requests and any of their own are counted in one
    query; the checklist of their own is read only when they have one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hmis_portal.core.prepared import statement_of

    identify(agency, programs=list(agency.programs.all()))
    manager = manager_of(agency)
    client.force_login(manager)
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as captured:
        page = client.get(reverse("home")).content.decode()
    assert "1 user working through the HMIS access checklist" in page
    reads = [sql for sql in (statement_of(connection, q["sql"]) for q in captured.captured_queries)
             if 'FROM "accounts_accessrequest"' in sql]
    assert len(reads) == 1, "\n".join(reads)
    own = identify(agency, email=manager.email, programs=list(agency.programs.all()))
    page = client.get(reverse("home")).content.decode()
    assert "2 users working through the HMIS access checklist" in page
    assert "Finish your HMIS access checklist" in page, own


def _waiting(agency, count, *, first_due, kind):
    """`count` items of `kind` ready for provisioning, due an hour apart from
    `first_due` on, straight into the tables."""
    from accounts.models import User
    from hmis_access.models import HMISAccount
    from hmis_accounts.models import ReactivationRequest

    now = timezone.now()
    users = User.objects.bulk_create([User(email=f"{kind}{n}@example.org", full_name=f"Waiting {kind} {n:03d}")
                                      for n in range(count)])
    if kind == "access":
        AccessRequest.objects.bulk_create([
            AccessRequest(organization=agency, user=user, status=AccessRequest.Status.READY, ready_at=now,
                          provisioning_due_at=first_due + dt.timedelta(hours=2 * n))
            for n, user in enumerate(users)])
        return
    accounts = HMISAccount.objects.bulk_create([
        HMISAccount(user=user, organization=agency, hmis_username=f"{kind}{n}", hmis_role="CES_Standard",
                    status=HMISAccount.Status.INACTIVE, provisioned_at=now, calendar_token=f"{kind}{n}",
                    inactivity_counted_from=now.date(), retraining_counted_from=now.date())
        for n, user in enumerate(users)])
    ReactivationRequest.objects.bulk_create([
        ReactivationRequest(account=account, user=account.user, organization=agency, requested_by=account.user,
                            status=ReactivationRequest.Status.READY, ready_at=now,
                            provisioning_due_at=first_due + dt.timedelta(hours=2 * n))
        for n, account in enumerate(accounts)])


def test_the_provisioning_queue_is_paged_earliest_deadline_first_across_kinds(client, agency):
    """A queue that has grown (an HMIS outage, a holiday week) is shown a page
    at a time, both kinds in one order of deadline: the page reads its own
    rows, not the whole queue."""
    from hmis_access.views import QUEUE_PAGE

    client.force_login(StaffFactory(groups=["CoC provisioning"]))
    start = timezone.now() + dt.timedelta(days=3)
    # Access requests due at start, +2 h, +4 h…; reactivations at +1 h, +3 h…: interleaved.
    _waiting(agency, QUEUE_PAGE, first_due=start, kind="access")
    _waiting(agency, 20, first_due=start + dt.timedelta(hours=1), kind="reactivation")
    total = QUEUE_PAGE + 20

    def people(page):
        body = client.get(reverse("provisioning-queue"), {"page": page}).content.decode()
        return body, re.findall(r"Waiting (access|reactivation) (\d{3})", body)

    first, on_first = people(1)
    # Both kinds, alternating for the first 40 deadlines, then access requests alone.
    assert len(on_first) == QUEUE_PAGE
    assert on_first[:4] == [("access", "000"), ("reactivation", "000"), ("access", "001"), ("reactivation", "001")]
    assert f"1–{QUEUE_PAGE} of {total}" in first
    second, on_second = people(2)
    assert on_second == [("access", f"{n:03d}") for n in range(30, QUEUE_PAGE)]
    assert f"{QUEUE_PAGE + 1}–{total} of {total}" in second
    # Past the last page: the last page, as every list of the portal answers.
    assert people(9)[1] == on_second
    assert people("x")[1] == on_first
