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
    assert listing.context["page"].paginator.count == 2
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
    body = b"".join(response.streaming_content).decode()
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
    assert "<svg" in response.content.decode() and "50% of 2" in response.content.decode()


def test_home_page_shows_the_providers_counts(client):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    _overdue(program)
    make_referral(program)
    client.force_login(staff)
    page = client.get(reverse("home")).content.decode()
    assert f"1 overdue referral to {program.name}" in page
    assert f"2 new referrals to {program.name} awaiting your response" in page
