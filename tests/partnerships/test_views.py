"""The portal pages of data partnerships: what each person sees and does,
refusals and bad input as messages (never a 5xx), constant queries on lists."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from hmis_portal.core import calendar
from partnerships.models import DataPartnership, IntakeBatch
from tests.factories import HMISAccountFactory, OrganizationFactory
from tests.partnerships.factories import PDF, active, batch, coc_staff, director, hmis_agency, pdf_upload, person, propose

pytestmark = pytest.mark.django_db


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_executive_director_proposes_through_the_page(client):
    agency, partner = OrganizationFactory(name="Riverbend Outreach"), hmis_agency(name="Harbor Light")
    OrganizationFactory(name="Not in HMIS")
    client.force_login(director(agency))
    page = client.get(reverse("partnerships:propose", args=[agency.slug]))
    options = [str(o) for o in page.context["form"].fields["partner"].queryset]
    assert options == ["Harbor Light"]  # only agencies that participate in HMIS, not itself
    response = client.post(reverse("partnerships:propose", args=[agency.slug]),
                           {"partner": partner.pk, "moa_signed_on": "2026-01-05", "moa": pdf_upload()})
    partnership = DataPartnership.objects.get()
    assert response.status_code == 302 and response["Location"] == partnership.get_absolute_url()
    assert partnership.agency == agency and partnership.partner == partner


def test_a_wrong_file_is_a_form_error_and_nothing_is_stored(client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    agency, partner = OrganizationFactory(), hmis_agency()
    client.force_login(director(agency))
    response = client.post(reverse("partnerships:propose", args=[agency.slug]),
                           {"partner": partner.pk, "moa_signed_on": "2026-01-05",
                            "moa": SimpleUploadedFile("moa.pdf", b"<html>not a scan</html>")})
    assert response.status_code == 200 and "not a PDF" in response.content.decode()
    assert not DataPartnership.objects.exists()


@pytest.mark.parametrize("data", [
    {"partner": "99999999999999999999999999", "moa_signed_on": "2026-01-05"},
    {"partner": "abc", "moa_signed_on": "9999-12-31"},
    {"partner": "", "moa_signed_on": "2026-13-45"},
])
def test_bad_proposals_are_form_errors(client, data):
    agency = OrganizationFactory()
    hmis_agency()
    client.force_login(director(agency))
    response = client.post(reverse("partnerships:propose", args=[agency.slug]), {**data, "moa": pdf_upload()})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not DataPartnership.objects.exists()


def test_the_partner_accepts_and_a_double_click_gets_a_message(client):
    partnership = propose()
    client.force_login(director(partnership.partner))
    page = client.get(partnership.get_absolute_url())
    assert b"Accept the partnership" in page.content
    url = reverse("partnerships:accept", args=[partnership.pk])
    assert client.post(url).status_code == 302
    second = client.post(url, follow=True)
    assert second.status_code in (200, 403)
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.ACTIVE


def test_a_second_decision_is_a_message_not_an_error(client):
    from partnerships import services

    partnership = propose()
    ed = director(partnership.partner)
    client.force_login(ed)
    services.partnership_accept(actor=director(partnership.partner), partnership_id=partnership.pk)
    response = client.post(reverse("partnerships:decline", args=[partnership.pk]), {"decline-reason": "No."})
    assert response.status_code == 302
    assert any("already accepted" in m for m in messages_of(response))
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.ACTIVE


def test_declining_without_a_reason_shows_the_form_again(client):
    partnership = propose()
    client.force_login(director(partnership.partner))
    response = client.post(reverse("partnerships:decline", args=[partnership.pk]), {"decline-reason": ""})
    assert response.status_code == 200 and response.context["decline_form"].errors
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.PROPOSED


def test_coc_staff_end_a_partnership_with_a_reason(client):
    partnership = active()
    client.force_login(coc_staff("CoC implementation"))
    response = client.post(reverse("partnerships:end", args=[partnership.pk]), {"end-reason": "MOA lapsed."})
    assert response.status_code == 302
    partnership.refresh_from_db()
    assert partnership.status == DataPartnership.Status.ENDED and partnership.end_reason == "MOA lapsed."


def test_staff_record_a_batch_and_the_page_words_its_deadline(client):
    partnership = active()
    client.force_login(person(partnership.agency))
    received = calendar.local_date() - dt.timedelta(days=1)
    response = client.post(reverse("partnerships:batch-new", args=[partnership.pk]),
                           {"received_at": f"{received.isoformat()}T10:30", "intake_count": "4",
                            "reference": "RB-12", "note": "Secure email"})
    assert response.status_code == 302
    recorded = IntakeBatch.objects.get()
    assert recorded.intake_count == 4 and calendar.local_date(recorded.received_at) == received
    page = client.get(partnership.get_absolute_url()).content.decode()
    assert "Due by end of " in page and "RB-12" in page


@pytest.mark.parametrize("data", [
    {"received_at": "yesterday", "intake_count": "4"},
    {"received_at": "9999-12-31T10:00", "intake_count": "4"},
    {"received_at": "2026-01-06T10:00", "intake_count": "-1"},
    {"received_at": "2026-01-06T10:00", "intake_count": "99999999999999999999"},
    {"received_at": "2026-01-06T10:00", "intake_count": "2", "reference": "x" * 61},
    {"received_at": "2026-01-06T10:00", "intake_count": "2", "note": "bad \x07 bell"},
    {"received_at": "2099-01-06T10:00", "intake_count": "2"},
])
def test_bad_batches_change_nothing(client, data):
    partnership = active()
    client.force_login(person(partnership.agency))
    response = client.post(reverse("partnerships:batch-new", args=[partnership.pk]), data)
    assert response.status_code == 200
    assert response.context["batch_form"].errors
    assert not IntakeBatch.objects.exists()


def test_the_partner_records_a_batch_entered_and_bad_moments_are_messages(client):
    partnership = active()
    recorded = batch(partnership)
    client.force_login(person(partnership.partner))
    url = reverse("partnerships:batch-entered", args=[recorded.pk])
    for bad in ("not a time", "9999-01-01T10:00", ""):
        response = client.post(url, {"entered_at": bad})
        assert response.status_code == 302 and messages_of(response)
    recorded.refresh_from_db()
    assert recorded.entered_at is None
    local_now = dt.datetime.now(calendar.coc_timezone())
    response = client.post(url, {"entered_at": local_now.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    recorded.refresh_from_db()
    assert recorded.entered_at is not None and recorded.entered_on_time is True
    again = client.post(url, {"entered_at": local_now.strftime("%Y-%m-%dT%H:%M")})
    assert any("already recorded as entered" in m for m in messages_of(again))


def test_the_moa_is_served_as_an_attachment_after_the_check(client):
    partnership = active()
    client.force_login(partnership.proposed_by)
    response = client.get(reverse("partnerships:moa", args=[partnership.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == PDF
    client.force_login(person(partnership.agency))  # staff: not the leads
    assert client.get(reverse("partnerships:moa", args=[partnership.pk])).status_code == 403


def test_another_agencys_batch_is_a_404(client):
    partnership = active()
    recorded = batch(partnership)
    client.force_login(person(hmis_agency()))
    assert client.post(reverse("partnerships:batch-entered", args=[recorded.pk]),
                       {"entered_at": "2026-01-06T10:00"}).status_code == 404
    assert client.get(partnership.get_absolute_url()).status_code == 404


def test_the_agency_page_shows_its_partnerships_on_either_side(client):
    agency = hmis_agency()
    as_sender = active(agency)
    as_partner = active(partner=agency)
    elsewhere = active()
    client.force_login(person(agency))
    page = client.get(reverse("partnerships:agency", args=[agency.slug]))
    shown = {p.pk for p in page.context["page"]}
    assert shown == {as_sender.pk, as_partner.pk} and elsewhere.pk not in shown
    # Linked from the agency page and the menu.
    assert reverse("partnerships:agency", args=[agency.slug]).encode() in client.get(
        reverse("organization-detail", args=[agency.slug])).content
    assert reverse("partnerships:list").encode() in client.get(reverse("home")).content


def test_timeliness_on_the_partner_page(client):
    from partnerships import services

    partnership = active()
    enterer = person(partnership.partner)
    HMISAccountFactory(user=enterer, organization=partnership.partner)
    tz = calendar.coc_timezone()
    on_time = batch(partnership, received_at=dt.datetime(2026, 10, 2, 16, 0, tzinfo=tz),
                    at=dt.datetime(2026, 10, 2, 17, 0, tzinfo=tz))
    late = batch(partnership, received_at=dt.datetime(2026, 10, 2, 16, 1, tzinfo=tz),
                 at=dt.datetime(2026, 10, 2, 17, 0, tzinfo=tz))
    batch(partnership, received_at=dt.datetime(2026, 10, 2, 16, 2, tzinfo=tz),
          at=dt.datetime(2026, 10, 2, 17, 0, tzinfo=tz))  # still open: overdue
    services.intake_batch_record_entry(actor=enterer, batch_id=on_time.pk,
                                       entered_at=dt.datetime(2026, 10, 5, 9, 0, tzinfo=tz))
    services.intake_batch_record_entry(actor=enterer, batch_id=late.pk,
                                       entered_at=dt.datetime(2026, 10, 9, 9, 0, tzinfo=tz))
    client.force_login(enterer)
    figures = client.get(partnership.get_absolute_url()).context["timeliness"]
    assert (figures.batches, figures.entered, figures.on_time_share, figures.overdue) == (3, 2, 50, 1)


def _many(count):
    for _ in range(count):
        partnership = active()
        batch(partnership)
        batch(partnership, received_at=partnership.decided_at - dt.timedelta(minutes=1))


def test_coc_staff_see_every_partnership_in_constant_queries(client, django_assert_max_num_queries):
    staff = coc_staff("CoC implementation")
    client.force_login(staff)
    _many(3)
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse("partnerships:list")).status_code == 200
    _many(9)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("partnerships:list"))
    assert response.context["page"].paginator.count == 12


def test_the_batches_of_a_partnership_in_constant_queries(client, django_assert_max_num_queries):
    partnership = active()
    viewer = person(partnership.partner)
    client.force_login(viewer)
    batch(partnership)
    with django_assert_max_num_queries(25) as few:
        client.get(partnership.get_absolute_url())
    for minute in range(30):
        batch(partnership, received_at=partnership.decided_at - dt.timedelta(minutes=minute + 2))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(partnership.get_absolute_url())
    assert len(response.context["batches"]) == 25


def test_other_coc_staff_see_no_partnerships(client):
    active()
    client.force_login(coc_staff("CoC training"))
    assert client.get(reverse("partnerships:list")).status_code == 403


@pytest.mark.parametrize("path", ["/partnerships/99999999999999999999/", "/partnerships/2147483648/moa/",
                                  "/partnerships/batches/99999999999999999999/entered/"])
def test_a_huge_id_in_the_address_is_a_404(client, path):
    client.force_login(coc_staff("CoC implementation"))
    response = client.post(path, {}) if path.endswith("entered/") else client.get(path)
    assert response.status_code == 404


def test_a_nul_byte_in_a_batch_note_is_a_400_and_changes_nothing(client):
    partnership = active()
    client.force_login(person(partnership.agency))
    response = client.post(reverse("partnerships:batch-new", args=[partnership.pk]),
                           {"received_at": "2026-01-06T10:00", "intake_count": "2", "note": "a\x00b"})
    assert response.status_code == 400
    assert not IntakeBatch.objects.exists()


def test_the_home_page_says_what_waits(client):
    from hmis_portal.core.work import open_tasks_for as every_task

    def open_tasks_for(user):
        return [t for t in every_task(user) if t.section == "Data partnerships"]

    proposal = propose()
    partner_ed = director(proposal.partner)
    assert [t.title for t in open_tasks_for(partner_ed)] == [
        f"Data partnership proposed by {proposal.agency}: accept or decline"]
    assert open_tasks_for(proposal.proposed_by) == []
    partnership = active()
    enterer = person(partnership.partner)
    HMISAccountFactory(user=enterer, organization=partnership.partner)
    tz = calendar.coc_timezone()
    batch(partnership, received_at=dt.datetime(2026, 10, 2, 16, 0, tzinfo=tz),
          at=dt.datetime(2026, 10, 2, 17, 0, tzinfo=tz))
    batch(partnership)
    [task] = open_tasks_for(enterer)
    assert task.title == f"2 intake batches from {partnership.agency} to enter into HMIS (1 overdue)" and task.overdue
    [staff_task] = open_tasks_for(coc_staff("CoC implementation"))
    assert staff_task.title == "1 overdue intake batch across data partners"
    assert open_tasks_for(coc_staff("CES team")) == []


def test_the_agency_history_tells_its_partnerships(client):
    partnership = active()
    client.force_login(partnership.proposed_by)
    page = client.get(reverse("onboarding:participation", args=[partnership.agency.slug])).content.decode()
    assert "Accepted data partnership" in page and "Waiting for the partner agency → Active" in page
    assert reverse("partnerships:agency", args=[partnership.agency.slug]) in page


def test_intake_batches_wait_only_on_those_who_can_enter_them_into_hmis():
    from hmis_access.models import HMISAccount
    from hmis_portal.core.work import open_tasks_for

    def told(user):
        return [t.title for t in open_tasks_for(user) if "to enter into HMIS" in t.title]

    partnership = active()
    batch(partnership)
    partner = partnership.partner
    with_access = person(partner)
    HMISAccountFactory(user=with_access, organization=partner)
    inactive = person(partner)
    HMISAccountFactory(user=inactive, organization=partner, status=HMISAccount.Status.INACTIVE)
    new_user, director_without_access = person(partner), director(partner)
    elsewhere = person(partner)
    HMISAccountFactory(user=elsewhere, organization=OrganizationFactory())  # access at another agency only
    assert told(with_access) == [f"1 intake batch from {partnership.agency} to enter into HMIS"]
    for nobody in (inactive, new_user, director_without_access, elsewhere):
        assert told(nobody) == [], nobody


def test_an_agency_that_does_not_use_hmis_is_not_asked_to_join_it(client):
    import html

    partnership = propose()
    agency, ed = partnership.agency, partnership.proposed_by
    client.force_login(ed)
    home = html.unescape(client.get(reverse("home")).content.decode())
    assert "Sign and upload the Organization Agreement" not in home and "Step 1 of joining HMIS" not in home
    # What fits it instead: its partnership, waiting for the partner.
    assert f"Your data partnership with {partnership.partner} waits for its Executive Director" in home
    participation = html.unescape(client.get(reverse("onboarding:participation", args=[agency.slug])).content.decode())
    assert "Sign and upload the Organization Agreement" not in participation
    from partnerships import services

    services.partnership_accept(actor=director(partnership.partner), partnership_id=partnership.pk)
    home = html.unescape(client.get(reverse("home")).content.decode())
    assert "Sign and upload the Organization Agreement" not in home
    assert f"Send your intakes to {partnership.partner}" in home
    assert reverse("partnerships:detail", args=[partnership.pk]) in home
    # An agency with no partnership is still asked to join HMIS.
    other = OrganizationFactory()
    client.force_login(director(other))
    assert "Sign and upload the Organization Agreement" in client.get(reverse("home")).content.decode()
