"""Every transition of a data partnership and its intake batches, and each refusal."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from hmis_portal.core import calendar
from hmis_portal.core.models import AuditEvent, Notification
from partnerships import services
from partnerships.models import DataPartnership, IntakeBatch, PartnershipPolicy
from tests.factories import OrganizationFactory
from tests.partnerships.factories import (active, batch, coc_staff, director, enterer, hmis_agency, pdf_upload, person,
                                          propose)

pytestmark = pytest.mark.django_db
Status = DataPartnership.Status


def local(*args):
    return dt.datetime(*args, tzinfo=calendar.coc_timezone())


def recipients(subject_part):
    return set(Notification.objects.filter(subject__contains=subject_part).values_list("to_email", flat=True))


def events(obj, verb):
    return AuditEvent.objects.filter(object_id=str(obj.pk), verb=verb,
                                     content_type__model=obj._meta.model_name).count()


# --- proposing ---------------------------------------------------------------------------------

def test_the_executive_director_proposes_with_the_signed_moa():
    agency, partner = OrganizationFactory(), hmis_agency()
    ed, partner_ed, partner_staff = director(agency), director(partner), person(partner)
    partnership = services.partnership_propose(actor=ed, agency=agency, partner=partner, upload=pdf_upload(),
                                               moa_signed_on=dt.date(2026, 1, 5))
    assert partnership.status == Status.PROPOSED and partnership.proposed_by == ed
    assert partnership.moa.name.startswith("partnership-moas/") and partnership.moa.name.endswith(".pdf")
    assert events(partnership, "proposed data partnership") == 1
    # Told: exactly who may accept or decline, the partner's Executive Director.
    assert recipients("Data partnership proposed") == {partner_ed.email}
    assert partner_staff.email not in recipients("Data partnership proposed")


@pytest.mark.parametrize("persona", ["program_manager", "agency_administrator", "staff"])
def test_only_the_executive_director_proposes(persona):
    agency = OrganizationFactory()
    with pytest.raises(PermissionDenied):
        services.partnership_propose(actor=person(agency, persona), agency=agency, partner=hmis_agency(),
                                     upload=pdf_upload(), moa_signed_on=dt.date(2026, 1, 5))
    assert not DataPartnership.objects.exists()


def test_the_partner_must_participate_in_hmis():
    agency = OrganizationFactory()
    with pytest.raises(ValidationError, match="no executed Organization Agreement"):
        services.partnership_propose(actor=director(agency), agency=agency, partner=OrganizationFactory(),
                                     upload=pdf_upload(), moa_signed_on=dt.date(2026, 1, 5))
    assert not DataPartnership.objects.exists()


def test_an_agency_does_not_partner_with_itself():
    agency = hmis_agency()
    with pytest.raises(ValidationError, match="another agency"):
        services.partnership_propose(actor=director(agency), agency=agency, partner=agency, upload=pdf_upload(),
                                     moa_signed_on=dt.date(2026, 1, 5))


def test_a_signing_date_in_the_future_or_a_file_that_is_not_a_scan_changes_nothing():
    agency = OrganizationFactory()
    ed, partner = director(agency), hmis_agency()
    with pytest.raises(ValidationError, match="future"):
        services.partnership_propose(actor=ed, agency=agency, partner=partner, upload=pdf_upload(),
                                     moa_signed_on=calendar.local_date() + dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="not a PDF"):
        services.partnership_propose(actor=ed, agency=agency, partner=partner,
                                     upload=SimpleUploadedFile("moa.pdf", b"MZ not a scan"),
                                     moa_signed_on=dt.date(2026, 1, 5))
    assert not DataPartnership.objects.exists() and not AuditEvent.objects.filter(verb__contains="partnership")


def test_proposing_twice_makes_one_partnership():
    partnership = propose()
    with pytest.raises(ValidationError, match="already has a data partnership"):
        propose(partnership.agency, partnership.partner, actor=partnership.proposed_by)
    assert DataPartnership.objects.count() == 1


def test_a_declined_or_ended_partnership_can_be_proposed_again():
    partnership = propose()
    services.partnership_decline(actor=director(partnership.partner), partnership_id=partnership.pk,
                                 reason="Not this year.")
    again = propose(partnership.agency, partnership.partner, actor=partnership.proposed_by)
    assert again.pk != partnership.pk and again.status == Status.PROPOSED


# --- accepting and declining ---------------------------------------------------------------------

def test_the_partners_executive_director_accepts():
    partnership = propose()
    partner_ed, sender, partner_staff = director(partnership.partner), person(partnership.agency), person(
        partnership.partner)
    services.partnership_accept(actor=partner_ed, partnership_id=partnership.pk)
    partnership.refresh_from_db()
    assert partnership.status == Status.ACTIVE and partnership.decided_by == partner_ed
    assert events(partnership, "accepted data partnership") == 1
    # The agency's people, who send the intakes from now on.
    assert recipients("accepted") == {partnership.proposed_by.email, sender.email}
    assert partner_staff.email not in recipients("accepted")


def test_accepting_twice_says_so_and_changes_nothing():
    partnership = propose()
    partner_ed = director(partnership.partner)
    services.partnership_accept(actor=partner_ed, partnership_id=partnership.pk)
    with pytest.raises(ValidationError, match="already accepted"):
        services.partnership_accept(actor=partner_ed, partnership_id=partnership.pk)
    assert events(partnership, "accepted data partnership") == 1


@pytest.mark.parametrize("who", ["agency_ed", "partner_staff", "coc_staff"])
def test_only_the_partners_executive_director_decides(who):
    partnership = propose()
    actor = {"agency_ed": lambda: director(partnership.agency), "partner_staff": lambda: person(partnership.partner),
             "coc_staff": lambda: coc_staff()}[who]()
    with pytest.raises(PermissionDenied, match="partner agency's Executive Director"):
        services.partnership_accept(actor=actor, partnership_id=partnership.pk)
    partnership.refresh_from_db()
    assert partnership.status == Status.PROPOSED


def test_nobody_accepts_their_own_proposal():
    """An Executive Director of both agencies proposed it: another must accept."""
    from tests.factories import MembershipFactory

    agency, partner = OrganizationFactory(), hmis_agency()
    both = director(agency)
    MembershipFactory(user=both, organization=partner, persona="executive_director")
    partnership = propose(agency, partner, actor=both)
    with pytest.raises(PermissionDenied, match="You proposed this partnership"):
        services.partnership_accept(actor=both, partnership_id=partnership.pk)


def test_declining_needs_a_reason_and_tells_the_agency():
    partnership = propose()
    partner_ed = director(partnership.partner)
    with pytest.raises(ValidationError, match="Say why"):
        services.partnership_decline(actor=partner_ed, partnership_id=partnership.pk, reason="  ")
    services.partnership_decline(actor=partner_ed, partnership_id=partnership.pk, reason="No capacity.")
    partnership.refresh_from_db()
    assert partnership.status == Status.DECLINED and partnership.decline_reason == "No capacity."
    assert recipients("declined") == {partnership.proposed_by.email}
    with pytest.raises(ValidationError, match="can no longer be accepted"):
        services.partnership_accept(actor=partner_ed, partnership_id=partnership.pk)


# --- ending --------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["agency_ed", "partner_ed", "implementation", "system_admin"])
def test_either_agency_or_coc_staff_ends_it(who):
    partnership = active()
    actor = {"agency_ed": lambda: partnership.proposed_by, "partner_ed": lambda: partnership.decided_by,
             "implementation": lambda: coc_staff("CoC implementation"),
             "system_admin": lambda: coc_staff("CoC system admin")}[who]()
    services.partnership_end(actor=actor, partnership_id=partnership.pk, reason="The agency joined HMIS.")
    partnership.refresh_from_db()
    assert partnership.status == Status.ENDED and partnership.ended_by == actor
    assert events(partnership, "ended data partnership") == 1
    told = recipients("Data partnership ended")
    assert actor.email not in told
    assert told <= {partnership.proposed_by.email, partnership.decided_by.email} and told


@pytest.mark.parametrize("who", ["agency_staff", "ces_team"])
def test_others_do_not_end_it(who):
    partnership = active()
    actor = person(partnership.agency) if who == "agency_staff" else coc_staff("CES team")
    with pytest.raises(PermissionDenied):
        services.partnership_end(actor=actor, partnership_id=partnership.pk, reason="x")
    partnership.refresh_from_db()
    assert partnership.status == Status.ACTIVE


def test_ending_twice_or_without_a_reason_changes_nothing():
    partnership = active()
    ed = partnership.proposed_by
    with pytest.raises(ValidationError, match="Say why"):
        services.partnership_end(actor=ed, partnership_id=partnership.pk, reason="")
    services.partnership_end(actor=ed, partnership_id=partnership.pk, reason="Done.")
    with pytest.raises(ValidationError, match="already ended"):
        services.partnership_end(actor=ed, partnership_id=partnership.pk, reason="Done.")
    assert events(partnership, "ended data partnership") == 1


# --- intake batches ------------------------------------------------------------------------------

def test_recording_a_batch_stores_its_deadline_and_tells_the_partners_people():
    partnership = active()
    sender, partner_staff = person(partnership.agency), enterer(partnership.partner)
    without_access = person(partnership.partner)
    # The Wednesday before Thanksgiving: Thursday is a holiday, then Fri, Mon, Tue.
    received = local(2026, 11, 25, 10, 0)
    recorded = services.intake_batch_record(actor=sender, partnership_id=partnership.pk, received_at=received,
                                            intake_count=4, reference="RB-7", note="Secure email",
                                            at=received + dt.timedelta(hours=1))
    assert recorded.due_at == calendar.end_of_day(dt.date(2026, 12, 1))
    assert recorded.escalate_at == calendar.end_of_day(dt.date(2026, 12, 2))
    assert events(recorded, "sent intakes to the partner") == 1
    told = recipients("to enter into HMIS")
    assert partner_staff.email in told and sender.email not in told and without_access.email not in told
    body = Notification.objects.filter(to_email=partner_staff.email, subject__contains="enter into").get().body
    assert "Due by end of Tue, Dec 1" in body


@pytest.mark.parametrize("received, due", [
    (local(2026, 10, 2, 16, 0), dt.date(2026, 10, 7)),   # a Friday: Mon, Tue, Wed
    (local(2026, 10, 3, 9, 0), dt.date(2026, 10, 7)),    # a Saturday counts from Monday
    (local(2026, 11, 6, 23, 30), dt.date(2026, 11, 12)),  # late Friday (local); Veterans Day Wednesday is skipped
    (local(2026, 11, 25, 10, 0), dt.date(2026, 12, 1)),  # the Wednesday before Thanksgiving
])
def test_the_entry_deadline_is_the_end_of_the_nth_business_day(received, due):
    due_at, _ = services.entry_deadlines(received_at=received)
    assert due_at == calendar.end_of_day(due)


def test_the_deadline_is_the_policy_row():
    policy = PartnershipPolicy.current()
    policy.entry_business_days = 5
    policy.save()
    due_at, _ = services.entry_deadlines(received_at=local(2026, 10, 2, 16, 0))
    assert due_at == calendar.end_of_day(dt.date(2026, 10, 9))


def test_a_holiday_the_coc_adds_is_skipped():
    from hmis_portal.core.models import Holiday

    Holiday.objects.create(date=dt.date(2026, 10, 6), name="CoC closure")
    due_at, _ = services.entry_deadlines(received_at=local(2026, 10, 2, 16, 0))
    assert due_at == calendar.end_of_day(dt.date(2026, 10, 8))


@pytest.mark.parametrize("who", ["partner_staff", "coc_staff", "outsider"])
def test_only_the_sending_agency_records_a_batch(who):
    partnership = active()
    actor = {"partner_staff": lambda: person(partnership.partner), "coc_staff": lambda: coc_staff(),
             "outsider": lambda: person(OrganizationFactory())}[who]()
    with pytest.raises(PermissionDenied):
        batch(partnership, actor=actor)
    assert not IntakeBatch.objects.exists()


def test_batches_only_while_the_partnership_is_active():
    partnership = propose()
    with pytest.raises(ValidationError, match="only while it is active"):
        batch(partnership)
    assert not IntakeBatch.objects.exists()


@pytest.mark.parametrize("received_at, count, message", [
    (None, 3, "Enter when"),
    ("future", 3, "in the future"),
    ("early", 3, "before the MOA was signed"),
    ("ok", 0, "how many intakes"),
    ("ok", 10_001, "how many intakes"),
    ("ok", None, "how many intakes"),
])
def test_bad_batches_are_refused(received_at, count, message):
    partnership = active()
    at = local(2026, 3, 2, 12, 0)
    moment = {None: None, "future": at + dt.timedelta(days=1), "early": local(2025, 12, 1, 9, 0),
              "ok": at - dt.timedelta(hours=1)}[received_at]
    with pytest.raises(ValidationError, match=message):
        services.intake_batch_record(actor=person(partnership.agency), partnership_id=partnership.pk,
                                     received_at=moment, intake_count=count, at=at)
    assert not IntakeBatch.objects.exists()


def test_the_same_batch_submitted_twice_is_recorded_once():
    partnership = active()
    received = local(2026, 3, 2, 9, 0)
    batch(partnership, received_at=received, at=received + dt.timedelta(hours=1))
    with pytest.raises(ValidationError, match="already recorded"):
        batch(partnership, received_at=received, at=received + dt.timedelta(hours=1))
    assert IntakeBatch.objects.count() == 1


def test_the_partner_records_entry_on_time_or_late():
    partnership = active()
    enterer = person(partnership.partner)
    received = local(2026, 10, 2, 16, 0)     # due by end of Wed, Oct 7
    on_time = batch(partnership, received_at=received, at=received)
    late = batch(partnership, received_at=received + dt.timedelta(minutes=5), at=received)
    services.intake_batch_record_entry(actor=enterer, batch_id=on_time.pk, entered_at=local(2026, 10, 7, 23, 59),
                                       at=local(2026, 10, 8, 9, 0))
    services.intake_batch_record_entry(actor=enterer, batch_id=late.pk, entered_at=local(2026, 10, 8, 0, 0),
                                       at=local(2026, 10, 8, 9, 0))
    on_time.refresh_from_db()
    late.refresh_from_db()
    assert on_time.entered_on_time is True and late.entered_on_time is False
    assert on_time.entered_recorded_by == enterer
    assert events(on_time, "entered intakes into HMIS") == 1


def test_recording_entry_twice_says_so():
    partnership = active()
    recorded = batch(partnership)
    enterer = person(partnership.partner)
    services.intake_batch_record_entry(actor=enterer, batch_id=recorded.pk, entered_at=recorded.received_at)
    with pytest.raises(ValidationError, match="already recorded as entered"):
        services.intake_batch_record_entry(actor=enterer, batch_id=recorded.pk,
                                           entered_at=recorded.received_at + dt.timedelta(hours=1))
    recorded.refresh_from_db()
    assert recorded.entered_at == recorded.received_at
    assert events(recorded, "entered intakes into HMIS") == 1


def test_entry_refusals():
    partnership = active()
    recorded = batch(partnership)
    with pytest.raises(PermissionDenied):
        services.intake_batch_record_entry(actor=person(partnership.agency), batch_id=recorded.pk,
                                           entered_at=recorded.received_at)
    enterer = person(partnership.partner)
    with pytest.raises(ValidationError, match="before the partner received"):
        services.intake_batch_record_entry(actor=enterer, batch_id=recorded.pk,
                                           entered_at=recorded.received_at - dt.timedelta(hours=1))
    with pytest.raises(ValidationError, match="future"):
        services.intake_batch_record_entry(actor=enterer, batch_id=recorded.pk,
                                           entered_at=recorded.received_at + dt.timedelta(days=3))
    with pytest.raises(ValidationError, match="Enter when"):
        services.intake_batch_record_entry(actor=enterer, batch_id=recorded.pk, entered_at=None)
    recorded.refresh_from_db()
    assert recorded.entered_at is None
