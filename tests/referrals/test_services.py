"""The referral rules, and the bad input of issue 5: each refused with a clear
message and nothing changed."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from hmis_portal.core import calendar
from hmis_portal.core.models import AuditEvent, Notification
from referrals import services
from referrals.models import NeedStatus, Referral, ReferralTransition
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db

LA = calendar.coc_timezone()


def moment(*args):
    return dt.datetime(*args, tzinfo=LA)


def snapshot(referral):
    referral.refresh_from_db()
    return (referral.status_id, referral.version, referral.due_at, referral.enrollment_date, referral.move_in_date,
            referral.transitions.count())


def test_default_need_statuses_come_from_the_spec():
    initial = NeedStatus.objects.get(is_initial=True)
    assert initial.name == "CES: Matched: Awaiting response by Housing Provider"
    assert (initial.standard_days, initial.day_kind) == (2, "business")
    assert status("attempting-contact").standard_days == 10
    assert status("engaged").standard_days == 15
    dnr = status("did-not-respond")
    assert dnr.name == "CES Team Only: Housing Provider Did Not Respond" and dnr.ces_team_only
    assert initial.no_response_status == dnr
    results = {s.code: s.referral_result for s in NeedStatus.objects.filter(is_final=True)}
    assert results["enrolled"] == 1 and results["declined-by-client"] == 2 and results["declined-by-provider"] == 3
    assert all(results.values()), "every final status maps to a HUD 4.20.D result"


def test_a_referral_starts_matched_with_its_deadline_in_business_days():
    # Referred on the Wednesday before Thanksgiving: 2 business days skip
    # Thanksgiving, so it is due by the end of Monday (SPEC §4).
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program, at=moment(2026, 11, 25, 16, 0))
    assert referral.status.is_initial and referral.is_open
    assert referral.due_at == moment(2026, 12, 1, 0, 0)
    # Escalation margin: 2 more business days.
    assert referral.escalate_at == moment(2026, 12, 3, 0, 0)
    assert referral.transitions.count() == 1
    assert Notification.objects.filter(to_email=staff.email, subject__contains="New CES referral").exists()
    assert AuditEvent.objects.filter(verb="referred", object_id=str(referral.pk)).exists()


def test_only_the_ces_team_creates_referrals():
    program = ProgramFactory()
    with pytest.raises(PermissionDenied):
        services.referral_create(actor=provider_staff(program.organization), program=program,
                                 hmis_client_id="X1", contact_name="A", contact_phone="1")
    assert not Referral.objects.exists()


def test_a_duplicate_open_referral_is_refused_with_a_clear_message():
    program = ProgramFactory()
    first = make_referral(program, client_id="C-42")
    with pytest.raises(ValidationError, match="already has an open referral"):
        make_referral(program, client_id="C-42")
    assert Referral.objects.filter(hmis_client_id="C-42").count() == 1
    # Another program is fine, and so is the same program once the first is closed.
    make_referral(ProgramFactory(), client_id="C-42")
    services.referral_change_status(actor=matcher(), referral_id=first.pk, to_status=status("did-not-respond"))
    make_referral(program, client_id="C-42")
    assert Referral.objects.filter(hmis_client_id="C-42", program=program).count() == 2


def test_the_database_enforces_one_open_referral_per_client_and_program():
    referral = make_referral(client_id="C-7")
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(program=referral.program, hmis_client_id="C-7", contact_name="B",
                                status=referral.status)


def test_a_transition_the_status_does_not_allow_changes_nothing():
    program = ProgramFactory()
    referral = make_referral(program)
    before = snapshot(referral)
    with pytest.raises(ValidationError, match="cannot move to"):
        services.referral_change_status(actor=provider_staff(program.organization), referral_id=referral.pk,
                                        to_status=status("enrolled"), enrollment_date=calendar.local_date())
    assert snapshot(referral) == before


def test_a_provider_cannot_set_a_ces_team_only_status():
    program = ProgramFactory()
    referral = make_referral(program)
    before = snapshot(referral)
    with pytest.raises(ValidationError, match="Only the CES team sets"):
        services.referral_change_status(actor=provider_staff(program.organization), referral_id=referral.pk,
                                        to_status=status("did-not-respond"))
    assert snapshot(referral) == before
    # The CES team can.
    services.referral_change_status(actor=matcher(), referral_id=referral.pk, to_status=status("did-not-respond"))
    referral.refresh_from_db()
    assert referral.status.code == "did-not-respond" and not referral.is_open and referral.due_at is None


def test_staff_of_another_agency_cannot_change_the_status():
    referral = make_referral()
    with pytest.raises(PermissionDenied):
        services.referral_change_status(actor=provider_staff(ProgramFactory().organization), referral_id=referral.pk,
                                        to_status=status("attempting-contact"))


def test_a_stale_form_changes_nothing_and_says_what_happened():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program)
    loaded_version = referral.version
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"),
                                    expected_version=loaded_version)
    before = snapshot(referral)
    with pytest.raises(ValidationError, match="changed since you opened the page"):
        services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("engaged"),
                                        expected_version=loaded_version)
    assert snapshot(referral) == before


def test_declines_need_a_reason():
    program = ProgramFactory()
    referral = make_referral(program)
    with pytest.raises(ValidationError):
        services.referral_change_status(actor=provider_staff(program.organization), referral_id=referral.pk,
                                        to_status=status("declined-by-provider"))
    assert snapshot(referral)[0] == status("matched").pk


def _enrolled(program, staff, enrolled_on):
    referral = make_referral(program, at=moment(2026, 3, 2, 9, 0))
    for code in ("attempting-contact", "engaged"):
        services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status(code),
                                        at=moment(2026, 3, 3, 9, 0))
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("enrolled"),
                                    enrollment_date=enrolled_on, at=moment(2026, 3, 20, 9, 0))
    referral.refresh_from_db()
    return referral


def test_enrollment_needs_a_date_not_in_the_future():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program)
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"))
    with pytest.raises(ValidationError, match="enrolled"):
        services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("enrolled"))
    with pytest.raises(ValidationError, match="future"):
        services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("enrolled"),
                                        enrollment_date=calendar.local_date() + dt.timedelta(days=1))
    assert snapshot(referral)[0] == status("attempting-contact").pk


def test_move_in_date_not_before_enrollment_nor_in_the_future():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = _enrolled(program, staff, dt.date(2026, 3, 18))
    assert referral.status.code == "enrolled" and not referral.is_open
    before = snapshot(referral)
    with pytest.raises(ValidationError, match="before the enrollment"):
        services.referral_record_move_in(actor=staff, referral_id=referral.pk, move_in_date=dt.date(2026, 3, 17),
                                         at=moment(2026, 4, 1, 9, 0))
    with pytest.raises(ValidationError, match="future"):
        services.referral_record_move_in(actor=staff, referral_id=referral.pk, move_in_date=dt.date(2026, 4, 2),
                                         at=moment(2026, 4, 1, 9, 0))
    assert snapshot(referral) == before
    services.referral_record_move_in(actor=staff, referral_id=referral.pk, move_in_date=dt.date(2026, 3, 18),
                                     at=moment(2026, 4, 1, 9, 0))
    referral.refresh_from_db()
    assert referral.move_in_date == dt.date(2026, 3, 18)


def test_move_in_today_uses_the_cocs_date_not_utc():
    # 9 p.m. in Los Angeles on March 31 is already April 1 in UTC: April 1 is
    # still in the future for the CoC.
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = _enrolled(program, staff, dt.date(2026, 3, 18))
    with pytest.raises(ValidationError, match="future"):
        services.referral_record_move_in(actor=staff, referral_id=referral.pk, move_in_date=dt.date(2026, 4, 1),
                                         at=moment(2026, 3, 31, 21, 0))


def test_only_the_provider_records_the_move_in_date():
    program = ProgramFactory()
    referral = _enrolled(program, provider_staff(program.organization), dt.date(2026, 3, 18))
    with pytest.raises(PermissionDenied):
        services.referral_record_move_in(actor=matcher(), referral_id=referral.pk, move_in_date=dt.date(2026, 3, 18))


def test_a_transfer_returns_the_client_to_the_ces_team_which_re_refers():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    ces = matcher()
    referral = make_referral(program)
    with pytest.raises(ValidationError, match="why"):
        services.referral_request_transfer(actor=staff, referral_id=referral.pk, reason=" ")
    services.referral_request_transfer(actor=staff, referral_id=referral.pk, reason="Needs a ground-floor unit")
    referral.refresh_from_db()
    assert referral.status.code == "rematch-needed" and referral.awaiting_rereferral
    assert Notification.objects.filter(to_email=ces.email, subject__startswith="Transfer requested").exists()
    with pytest.raises(PermissionDenied):
        services.referral_rerefer(actor=staff, referral_id=referral.pk, program=ProgramFactory())
    other = ProgramFactory()
    new = services.referral_rerefer(actor=ces, referral_id=referral.pk, program=other)
    assert new.program == other and new.rereferred_from == referral and new.status.is_initial
    assert new.hmis_client_id == referral.hmis_client_id
    referral.refresh_from_db()
    assert not referral.awaiting_rereferral
    with pytest.raises(ValidationError, match="not waiting"):
        services.referral_rerefer(actor=ces, referral_id=referral.pk, program=ProgramFactory())


def test_an_enrolled_client_can_be_transferred_and_keeps_the_enrolled_result():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = _enrolled(program, staff, dt.date(2026, 3, 18))
    services.referral_request_transfer(actor=staff, referral_id=referral.pk, reason="Moved out of the region")
    referral.refresh_from_db()
    assert referral.status.code == "enrolled" and referral.awaiting_rereferral


def test_each_change_records_its_timeliness():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program, at=moment(2026, 3, 2, 9, 0))  # a Monday: due end of Wednesday
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"),
                                    at=moment(2026, 3, 4, 17, 0))
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("engaged"),
                                    at=moment(2026, 3, 20, 9, 0))  # 16 days: past the 10-day standard
    made = list(ReferralTransition.objects.filter(referral=referral).order_by("made_at")
                .values_list("within_standard", flat=True))
    assert made == [None, True, False]
    referral.refresh_from_db()
    # Engaged: 15 calendar days from entering it.
    assert referral.due_at == moment(2026, 4, 5, 0, 0)
