import csv
import datetime as dt
import io

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from referrals import services
from referrals.admin import ReferralAdmin
from referrals.models import Referral
from tests.factories import MembershipFactory
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db
LA = dt.timezone(dt.timedelta(hours=-8))


def _overdue(program, **kwargs):
    return make_referral(program, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA), **kwargs)


def test_counts_report_counts_per_program_and_status_with_links(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    make_referral(program)                      # fresh: due in 2 business days
    _overdue(program)
    _overdue(program)
    elsewhere = ProgramFactory()
    _overdue(elsewhere)                         # another agency: never counted here
    client.force_login(staff)
    response = client.get(reverse("referrals:counts"))
    report = response.context["report"]
    assert [entry.program for entry in report] == [program]
    (row,) = report[0].rows
    assert (row.status.code, row.total, row.overdue) == ("matched", 3, 2)
    overdue_link = f"?program={program.pk}&amp;status={row.status.pk}&amp;due=overdue"
    assert overdue_link in response.content.decode()
    listing = client.get(reverse("referrals:list"), {"program": program.pk, "status": row.status.pk, "due": "overdue"})
    assert len(listing.context["page"]) == 2
    assert elsewhere.name not in listing.content.decode()


def test_the_ces_team_sees_every_provider_and_the_overdue_list_most_late_first(client):
    a, b = ProgramFactory(), ProgramFactory()
    later = make_referral(a, at=dt.datetime(2026, 1, 20, 10, 0, tzinfo=LA))
    earliest = _overdue(b)
    make_referral(b)
    client.force_login(matcher())
    report = client.get(reverse("referrals:counts")).context["report"]
    assert {entry.program for entry in report} == {a, b}
    page = client.get(reverse("referrals:overdue")).context["page"]
    assert [r.pk for r in page] == [earliest.pk, later.pk]


def test_lists_use_a_constant_number_of_queries(client, django_assert_max_num_queries):
    programs = [ProgramFactory() for _ in range(3)]
    ces = matcher()
    for program in programs:
        for _ in range(4):
            _overdue(program, actor=ces)
    client.force_login(ces)
    pages = [reverse("referrals:counts"), reverse("referrals:list"), reverse("referrals:overdue"),
             reverse("referrals:list") + "?queue=returned", reverse("referrals:timeliness"), reverse("home")]
    baseline = {}
    for url in pages:
        with django_assert_max_num_queries(20) as ctx:
            assert client.get(url).status_code == 200
        baseline[url] = len(ctx.captured_queries)
    for program in programs:
        for _ in range(6):
            _overdue(program, actor=ces)
        ProgramFactory()
    for url in pages:
        with django_assert_max_num_queries(baseline[url]):
            client.get(url)


def test_detail_shows_history_and_contact_details_to_those_working_it(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program, contact_phone="555-0142")
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"),
                                    note="Left a voicemail")
    client.force_login(staff)
    page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert "555-0142" in page and "Left a voicemail" in page
    assert "CES: Attempted/Attempting Contact" in page
    # CoC staff outside the CES team, and other agencies, get a 404.
    from tests.factories import StaffFactory

    for outsider in (StaffFactory(groups=["CoC training"]), provider_staff(ProgramFactory().organization)):
        client.force_login(outsider)
        assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 404


def test_the_admin_hides_contact_details_from_coc_staff_outside_the_ces_team():
    from tests.factories import StaffFactory

    model_admin = ReferralAdmin(Referral, admin.site)
    request = RequestFactory().get("/")
    request.user = StaffFactory(groups=["CoC system admin"])
    assert "contact_phone" not in model_admin.get_fields(request)
    request.user = matcher()
    assert "contact_phone" in model_admin.get_fields(request)


def test_the_provider_form_offers_only_what_the_provider_may_set(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program)
    client.force_login(staff)
    form = client.get(reverse("referrals:detail", args=[referral.pk])).context["status_form"]
    offered = {label for _, label in form.fields["to_status"].choices}
    assert "CES: Attempted/Attempting Contact" in offered
    assert "CES Team Only: Housing Provider Did Not Respond" not in offered
    # A crafted POST of the CES-team-only status: a clear message, nothing changed.
    response = client.post(reverse("referrals:change-status", args=[referral.pk]),
                           {"version": referral.version, "to_status": status("did-not-respond").pk}, follow=True)
    assert "Only the CES team sets" in response.content.decode()
    referral.refresh_from_db()
    assert referral.status.code == "matched"


def test_a_stale_page_or_double_submit_changes_nothing(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program)
    client.force_login(staff)
    url = reverse("referrals:change-status", args=[referral.pk])
    data = {"version": referral.version, "to_status": status("attempting-contact").pk}
    assert client.post(url, data).status_code == 302
    response = client.post(url, {**data, "to_status": status("engaged").pk}, follow=True)
    assert "changed since you opened the page" in response.content.decode()
    referral.refresh_from_db()
    assert referral.status.code == "attempting-contact" and referral.transitions.count() == 2


def test_ces_team_creates_a_referral_and_a_duplicate_is_refused(client):
    program = ProgramFactory()
    client.force_login(matcher())
    data = {"program": program.pk, "hmis_client_id": "HC-900", "contact_name": "Jo", "contact_phone": "555-0100"}
    response = client.post(reverse("referrals:create"), data)
    referral = Referral.objects.get(hmis_client_id="HC-900")
    assert response["Location"] == reverse("referrals:detail", args=[referral.pk])
    response = client.post(reverse("referrals:create"), data)
    assert response.status_code == 200 and "already has an open referral" in response.content.decode()
    assert Referral.objects.filter(hmis_client_id="HC-900").count() == 1


def test_export_has_history_and_hud_result_and_no_contact_details(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program, contact_phone="555-0177")
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("declined-by-provider"),
                                    note="No unit fits the household")
    client.force_login(matcher())
    response = client.get(reverse("referrals:export"))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    (row,) = rows
    assert row["hmis_client_id"] == referral.hmis_client_id
    assert row["hud_4_20_d_referral_result"] == "3"
    assert "provider rejected" in row["hud_4_20_d_referral_result_label"]
    assert "CES: Declined by Housing Provider" in row["status_history"] and "No unit fits" in row["status_history"]
    assert "555-0177" not in body


def test_timeliness_chart_per_provider(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    now = dt.datetime.now(tz=LA)
    on_time = make_referral(program, at=now - dt.timedelta(hours=1))
    services.referral_change_status(actor=staff, referral_id=on_time.pk, to_status=status("attempting-contact"))
    late = make_referral(program, at=now - dt.timedelta(days=9))
    services.referral_change_status(actor=staff, referral_id=late.pk, to_status=status("attempting-contact"))
    client.force_login(staff)
    response = client.get(reverse("referrals:timeliness"))
    this_month = response.context["rows"][-1]["figure"]
    assert (this_month.changes, this_month.within) == (2, 1)
    page = response.content.decode()
    assert "<svg" in page and "50% of 2" in page


def test_the_timeliness_chart_draws_the_coc_s_target_and_says_met_or_not_in_words(client):
    """The target is the CoC's policy row, drawn as a line; each month says
    met or not met in text, not only in colour; months read as months."""
    from referrals.models import ReferralPolicy

    program = ProgramFactory()
    staff = provider_staff(program.organization)
    now = dt.datetime.now(tz=LA)
    for hours in (1, 2, 3, 24 * 9):  # three on time, one late: 75%
        referral = make_referral(program, at=now - dt.timedelta(hours=hours))
        services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"))
    client.force_login(staff)
    chart = str(client.get(reverse("referrals:timeliness")).context["chart"])
    month = now.strftime("%b %Y")
    assert "Target 80%" in chart and f">{month}<" in chart
    assert "75% ✗" in chart and "not met" in chart
    ReferralPolicy.objects.update(timeliness_target_percent=70)
    ReferralPolicy.objects.get().save()  # as the admin saves it: every page reads it again
    page = client.get(reverse("referrals:timeliness")).content.decode()
    assert "Target 70%" in page and "75% ✓" in page and "70% or more" in page
    assert "80%" not in page.split("<figure", 1)[1].split("</figure>", 1)[0]


def test_home_page_shows_the_providers_counts(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    _overdue(program)
    make_referral(program)
    client.force_login(staff)
    page = client.get(reverse("home")).content.decode()
    assert "1 program has overdue referrals (1 in all)" in page
    assert "2 new referrals awaiting your response" in page


def test_the_home_page_summarizes_a_program_managers_programs(client, django_assert_max_num_queries):
    from tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    manager = provider_staff(organization, persona="program_manager")
    programs = [ProgramFactory(organization=organization) for _ in range(4)]
    for program in programs:
        _overdue(program)
    client.force_login(manager)
    with django_assert_max_num_queries(30) as few:
        page = client.get(reverse("home")).content.decode()
    assert "4 programs have overdue referrals (4 in all)" in page
    for program in programs:
        assert program.name not in page
    for _ in range(20):
        _overdue(ProgramFactory(organization=organization))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("home")).content.decode()
    assert "24 programs have overdue referrals (24 in all)" in page


@pytest.mark.parametrize("name", ["program", "status", "organization"])
@pytest.mark.parametrize("value", ["1" + "0" * 30, "-1", "0", "abc", "1.5"])
def test_an_id_the_portal_cannot_have_is_a_clear_message_not_an_error(client, name, value):
    program = ProgramFactory()
    make_referral(program)
    client.force_login(matcher())
    response = client.get(reverse("referrals:list"), {name: value})
    assert response.status_code == 200
    assert "That is not an id the portal uses." in response.content.decode()
    assert len(response.context["page"]) == 0


def test_an_unknown_id_lists_nothing_and_a_bad_cursor_is_the_first_page(client):
    program = ProgramFactory()
    make_referral(program)
    client.force_login(matcher())
    assert len(client.get(reverse("referrals:list"), {"program": 2**62}).context["page"]) == 0
    for cursor in ("nonsense", "~", "2026-13-01~5", "~99999999999999999999999", "2026-01-01T00:00~1"):
        response = client.get(reverse("referrals:list"), {"after": cursor})
        assert response.status_code == 200 and len(response.context["page"]) == 1


def _page_through(client, url, params=None):
    """Every row of a keyset list, following Next, then back with Previous."""
    seen, pages = [], []
    response = client.get(url, params or {})
    while True:
        page = response.context["page"]
        pages.append([r.pk for r in page])
        seen.extend(r.pk for r in page)
        if not page.has_next:
            break
        response = client.get(f"{url}?{page.next_query}")
    back = []
    while page.has_previous:
        response = client.get(f"{url}?{page.previous_query}")
        page = response.context["page"]
        back.insert(0, [r.pk for r in page])
    assert back == pages[:-1]
    return seen


def test_lists_page_by_keyset_through_every_row_in_order(client, monkeypatch):
    from referrals import views

    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    ces = matcher()
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    made = [make_referral(program, actor=ces, at=dt.datetime(2026, 1, 5 + i % 3, 10, 0, tzinfo=LA))
            for i in range(11)]
    # Four closed, one of the open ones returned for re-referral.
    for referral in made[7:]:
        services.referral_change_status(actor=staff, referral_id=referral.pk,
                                        to_status=status("declined-by-provider"), note="No unit")
    services.referral_request_transfer(actor=staff, referral_id=made[0].pk, reason="Needs an accessible unit")
    # Two in a status without a standard (no deadline): listed last.
    Referral.objects.filter(pk__in=[made[2].pk, made[4].pk]).update(due_at=None)
    client.force_login(ces)
    url = reverse("referrals:list")
    open_rows = _page_through(client, url)
    expected = (list(Referral.objects.filter(is_open=True, due_at__isnull=False).order_by("due_at", "id")
                     .values_list("pk", flat=True)) + [made[2].pk, made[4].pk])
    assert open_rows == expected and len(expected) == 6
    closed = _page_through(client, url, {"queue": "closed"})
    assert closed == list(Referral.objects.filter(is_open=False).order_by("-closed_at", "-id")
                          .values_list("pk", flat=True))
    assert _page_through(client, url, {"queue": "returned"}) == [made[0].pk]
    overdue = _page_through(client, reverse("referrals:overdue"))
    assert overdue == [pk for pk in expected if Referral.objects.get(pk=pk).is_overdue()]


def _bulk_referrals(programs, start, stop):
    """Referrals straight into the table: a third open and overdue, a third
    closed, a third closed and returned to the CES team."""
    from django.utils import timezone

    from referrals.models import NeedStatus

    matched = NeedStatus.objects.get(is_initial=True)
    declined, rematch = status("declined-by-provider"), status("rematch-needed")
    now = timezone.now()
    Referral.objects.bulk_create([
        Referral(program=programs[i % len(programs)], hmis_client_id=f"Q{i}", contact_name="C",
                 status=(matched if i % 3 == 0 else declined if i % 3 == 1 else rematch), is_open=i % 3 == 0,
                 due_at=now - dt.timedelta(days=1) if i % 3 == 0 else None,
                 closed_at=None if i % 3 == 0 else now - dt.timedelta(hours=i),
                 awaiting_rereferral=i % 3 == 2)
        for i in range(start, stop)])


def test_every_referral_list_is_a_constant_number_of_queries_at_10_and_1000_rows(
        client, django_assert_max_num_queries):
    """Each referral list, for the CES team and for a Program Manager of
    several agencies: 10 referrals over 3 programs, then 1,000 over 60; the
    same number of queries, and a page of bounded size."""
    from referrals.work import open_tasks as referral_tasks

    from tests.factories import MembershipFactory

    ces = matcher()
    programs = [ProgramFactory() for _ in range(3)]
    manager = provider_staff(programs[0].organization, persona="program_manager")

    def add_programs(n):
        for _ in range(n):
            program = ProgramFactory()
            MembershipFactory(user=manager, organization=program.organization, persona="program_manager")
            programs.append(program)

    for program in programs[1:]:
        MembershipFactory(user=manager, organization=program.organization, persona="program_manager")
    pages = {
        ces: ["referrals:counts", "referrals:list", "referrals:overdue", "referrals:list?queue=returned",
              "referrals:list?queue=closed", "referrals:list?due=overdue&program=", "referrals:timeliness"],
        manager: ["referrals:counts", "referrals:list", "referrals:list?queue=closed",
                  "referrals:list?due=overdue&program=", "referrals:timeliness"],
    }

    def url(name):
        name, _, query = name.partition("?")
        return reverse(name) + (f"?{query}{programs[0].pk}" if query.endswith("=") else f"?{query}" if query else "")

    def measure(limits=None):
        found = {}
        for user, names in pages.items():
            client.force_login(user)
            for name in names:
                with django_assert_max_num_queries(limits[(user.pk, name)] if limits else 20) as ctx:
                    response = client.get(url(name))
                assert response.status_code == 200
                assert len(response.content) < 60_000, name  # a page, not the whole list
                found[(user.pk, name)] = len(ctx.captured_queries)
            with django_assert_max_num_queries(limits[(user.pk, "home")] if limits else 10) as ctx:
                referral_tasks(user)
            found[(user.pk, "home")] = len(ctx.captured_queries)
        return found

    _bulk_referrals(programs, 0, 10)
    at_10 = measure()
    add_programs(57)
    _bulk_referrals(programs, 10, 1000)
    assert Referral.objects.count() == 1000
    measure(limits=at_10)


def test_a_person_with_two_personas_at_the_agency_counts_each_referral_once(client):
    """Someone who is both Program Manager and staff of a provider (two
    memberships) sees the same counts as anyone else of the agency: a referral
    is counted once, not once per persona they hold there."""
    program = ProgramFactory()
    both = provider_staff(program.organization)
    MembershipFactory(user=both, organization=program.organization, persona="program_manager")
    make_referral(program)
    _overdue(program)
    client.force_login(both)
    report = client.get(reverse("referrals:counts")).context["report"]
    (row,) = report[0].rows
    assert (row.total, row.overdue) == (2, 1)


def test_the_referral_forms_are_checked_by_the_portal_not_the_browser(client):
    """Each form on a referral's page is sent as typed (`novalidate`), so a
    missing choice gets the portal's message beside its field, with the error
    summary and focus every other form has, not the browser's own bubble."""
    import re

    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program)
    client.force_login(staff)
    page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>", page)
    assert len(forms) >= 2, forms
    assert all("novalidate" in form for form in forms), forms
    response = client.post(reverse("referrals:change-status", args=[referral.pk]),
                           {"version": referral.version, "to_status": ""})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_to_status_error"' in page and "This field is required" in page
    referral.refresh_from_db()
    assert referral.transitions.count() == 1


def test_the_counts_report_draws_its_links_without_a_lookup_per_count(client, monkeypatch):
    """Every count links to the list: its address is looked up once per page,
    not once per cell (the report's rendering is most of its cost)."""
    import django.urls

    looked_up = []
    real = django.urls.reverse  # what {% url %} calls

    def counted(*args, **kwargs):
        looked_up.append(args[0] if args else kwargs.get("viewname"))
        return real(*args, **kwargs)

    monkeypatch.setattr(django.urls, "reverse", counted)
    ces = matcher()
    client.force_login(ces)

    def lookups():
        looked_up.clear()
        page = client.get(reverse("referrals:counts")).content.decode()
        return len(looked_up), page

    _overdue(ProgramFactory(), actor=ces)
    one, _ = lookups()
    for _ in range(4):
        program = ProgramFactory()
        _overdue(program, actor=ces)
        make_referral(program, actor=ces)
    several, page = lookups()
    assert several == one
    assert "&amp;due=overdue" in page and reverse("referrals:list") + "?program=" in page


def test_the_counts_report_draws_a_programs_rows_without_template_work_per_count(client, monkeypatch):
    """A program's rows (a count, its link and its label per status) are
    drawn in one step per program: a page of 25 programs with several
    statuses each does not resolve a template variable per figure, which was
    most of the whole request at scale."""
    from django.template.base import VariableNode

    rendered = []
    real = VariableNode.render

    def counted(node, context):
        rendered.append(node)
        return real(node, context)

    monkeypatch.setattr(VariableNode, "render", counted)
    ces = matcher()
    client.force_login(ces)
    program = ProgramFactory()
    _overdue(program, actor=ces)

    def variables():
        rendered.clear()
        page = client.get(reverse("referrals:counts")).content.decode()
        return len(rendered), page

    one, _ = variables()
    for code in ("attempting-contact", "engaged"):
        moved = make_referral(program, actor=ces)
        Referral.objects.filter(pk=moved.pk).update(status=status(code))
    three, page = variables()
    assert three == one
    assert page.count(f'href="{reverse("referrals:list")}?program={program.pk}&amp;status=') == 4  # one overdue
    assert page.count(" open in CES: ") == 3


def test_the_counts_report_asks_the_database_once_for_what_it_shows(client):
    """The figures, the names of the programs, agencies and statuses they
    count, and the CES team's number of clients returned for re-referral
    are one statement; the count is there when nothing is open too."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hmis_portal.core.prepared import statement_of

    ces = matcher()
    program = ProgramFactory(name="Harbor <Family> Housing")
    _overdue(program, actor=ces)
    make_referral(program, actor=ces)
    returned = _overdue(ProgramFactory(), actor=ces)
    Referral.objects.filter(pk=returned.pk).update(is_open=False, awaiting_rereferral=True)
    client.force_login(ces)
    client.get(reverse("referrals:counts"))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("referrals:counts"))
    (statement,) = [sql for sql in (statement_of(connection, q["sql"]) for q in captured.captured_queries)
                    if "referrals_" in sql]
    assert "GROUP BY" in statement
    assert "ORDER BY" not in statement  # counts need no order (the referrals' own would sort the returned ones)
    (entry,) = response.context["report"]
    assert (entry.program, entry.total, entry.overdue) == (program, 2, 1)
    assert entry.program.organization == program.organization
    assert response.context["returned_total"] == 1
    page = response.content.decode()
    assert "Harbor &lt;Family&gt; Housing" in page and "<Family>" not in page
    assert f'Returned for re-referral <span class="badge text-bg-secondary">1</span>' in page

    Referral.objects.filter(is_open=True).update(is_open=False)
    response = client.get(reverse("referrals:counts"))
    assert list(response.context["report"]) == [] and response.context["returned_total"] == 1
    assert "No open referrals." in response.content.decode()


def _queries_built(monkeypatch, model) -> list:
    """The queries of `model` turned into SQL from now on (the list grows as they are)."""
    from django.db.models.sql.compiler import SQLCompiler

    built = []
    real = SQLCompiler.as_sql

    def counted(compiler, *args, **kwargs):
        if compiler.query.model is model:
            built.append(compiler.query)
        return real(compiler, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counted)
    return built


def test_the_counts_report_builds_its_statement_once_per_process(client, monkeypatch):
    """Building the report's queryset and turning it into SQL cost more than
    running it: a warm request builds no referral query, for the CES team
    and for a provider agency's member alike, and each still counts only
    what they may see."""
    built = _queries_built(monkeypatch, Referral)
    ces = matcher()
    program, elsewhere = ProgramFactory(), ProgramFactory()
    _overdue(program, actor=ces)
    make_referral(elsewhere, actor=ces)
    staff = provider_staff(program.organization, hmis_role=None)
    for person, programs in ((ces, {program, elsewhere}), (staff, {program})):
        client.force_login(person)
        client.get(reverse("referrals:counts"))
        built.clear()
        response = client.get(reverse("referrals:counts"))
        assert built == [], person
        assert {entry.program for entry in response.context["report"]} == programs


def test_a_providers_counts_report_asks_who_sees_client_data_without_building_a_query(client, monkeypatch):
    """Whether the person works referrals (the counts link to the list or
    not) is answered within a request by the query the home page's to-dos
    prepared once, and still answers as the rule does."""
    from accounts.models import Organization

    built = _queries_built(monkeypatch, Organization)
    program = ProgramFactory()
    _overdue(program)
    worker = provider_staff(program.organization)
    lead = provider_staff(program.organization, persona="program_manager", hmis_role=None)
    list_link = f'href="{reverse("referrals:list")}?program={program.pk}'
    for person, works in ((worker, True), (lead, False)):
        client.force_login(person)
        client.get(reverse("referrals:counts"))
        built.clear()
        response = client.get(reverse("referrals:counts"))
        assert built == [], person
        assert response.context["works_referrals"] is works
        assert (list_link in response.content.decode()) is works


def test_the_referrals_menu_looks_up_no_address_per_request(client, monkeypatch):
    """The referrals pages' menu is drawn in one step from addresses looked
    up once per process, not a `{% url %}` per link per request."""
    import django.urls

    menu = {"referrals:list", "referrals:overdue", "referrals:providers", "referrals:create", "referrals:export",
            "referrals:hud-events-page", "referrals:timeliness"}
    ces = matcher()
    client.force_login(ces)
    _overdue(ProgramFactory(), actor=ces)
    client.get(reverse("referrals:counts"))
    looked_up = []
    real = django.urls.reverse

    def counted(*args, **kwargs):
        looked_up.append(args[0] if args else kwargs.get("viewname"))
        return real(*args, **kwargs)

    monkeypatch.setattr(django.urls, "reverse", counted)
    page = client.get(real("referrals:counts")).content.decode()
    assert all(f'href="{real(name)}"' in page for name in menu)
    for name in ("referrals:list", "referrals:overdue", "referrals:timeliness"):
        assert 'aria-label="Referrals"' in client.get(real(name)).content.decode()
    assert menu.isdisjoint(looked_up)
