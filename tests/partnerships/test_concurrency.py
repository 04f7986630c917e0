"""Two people (or one double click) acting on the same partnership or batch
at the same moment: the row lock makes one wait, and it then finds the row
moved and says so. Nobody gets a server error; each change happens once."""

import datetime as dt

import pytest

from hmis_portal.core.models import AuditEvent
from partnerships import services
from partnerships.models import DataPartnership, IntakeBatch
from partnerships.sweep import sweep_entry_deadlines
from tests.concurrency import race
from tests.factories import OrganizationFactory
from tests.partnerships.factories import active, batch, director, hmis_agency, pdf_upload, person, propose

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _verbs(obj, verb):
    return AuditEvent.objects.filter(object_id=str(obj.pk), verb=verb,
                                     content_type__model=obj._meta.model_name).count()


def test_accept_and_accept_at_once_accept_once(policy_rows):
    for _ in range(3):
        partnership = propose()
        first, second = director(partnership.partner), director(partnership.partner)
        outcomes = race(lambda: services.partnership_accept(actor=first, partnership_id=partnership.pk),
                        lambda: services.partnership_accept(actor=second, partnership_id=partnership.pk))
        assert sorted(outcomes)[1] == "done", outcomes
        assert "already accepted" in sorted(outcomes)[0], outcomes
        assert _verbs(partnership, "accepted data partnership") == 1


def test_accept_and_decline_at_once_do_one(policy_rows):
    for _ in range(3):
        partnership = propose()
        first, second = director(partnership.partner), director(partnership.partner)
        outcomes = race(lambda: services.partnership_accept(actor=first, partnership_id=partnership.pk),
                        lambda: services.partnership_decline(actor=second, partnership_id=partnership.pk,
                                                             reason="No capacity."))
        assert outcomes.count("done") == 1, outcomes
        assert not any(o.startswith("error") for o in outcomes), outcomes
        partnership.refresh_from_db()
        decided = _verbs(partnership, "accepted data partnership") + _verbs(partnership, "declined data partnership")
        assert decided == 1
        assert partnership.status in (DataPartnership.Status.ACTIVE, DataPartnership.Status.DECLINED)


def test_recording_entry_twice_at_once_records_once(policy_rows):
    for _ in range(3):
        partnership = active()
        recorded = batch(partnership)
        first, second = person(partnership.partner), person(partnership.partner)
        outcomes = race(
            lambda: services.intake_batch_record_entry(actor=first, batch_id=recorded.pk,
                                                       entered_at=recorded.received_at),
            lambda: services.intake_batch_record_entry(actor=second, batch_id=recorded.pk,
                                                       entered_at=recorded.received_at + dt.timedelta(minutes=1)))
        assert sorted(outcomes)[1] == "done", outcomes
        assert "already recorded as entered" in sorted(outcomes)[0], outcomes
        assert _verbs(recorded, "entered intakes into HMIS") == 1


def test_proposing_twice_at_once_makes_one_partnership(policy_rows):
    agency, partner = OrganizationFactory(), hmis_agency()
    ed = director(agency)
    outcomes = race(*[lambda: services.partnership_propose(actor=ed, agency=agency, partner=partner,
                                                           upload=pdf_upload(), moa_signed_on=dt.date(2026, 1, 5))
                      for _ in range(2)])
    assert sorted(outcomes)[1] == "done", outcomes
    assert "already has a data partnership" in sorted(outcomes)[0], outcomes
    assert DataPartnership.objects.filter(agency=agency, partner=partner).count() == 1


def test_the_same_batch_twice_at_once_is_recorded_once(policy_rows):
    partnership = active()
    sender = person(partnership.agency)
    received = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    outcomes = race(*[lambda: services.intake_batch_record(actor=sender, partnership_id=partnership.pk,
                                                           received_at=received, intake_count=2)
                      for _ in range(2)])
    assert sorted(outcomes)[1] == "done", outcomes
    assert "already recorded" in sorted(outcomes)[0], outcomes
    assert IntakeBatch.objects.filter(partnership=partnership).count() == 1


def test_ending_while_a_batch_is_recorded_leaves_no_batch_on_an_ended_partnership(policy_rows):
    for _ in range(3):
        partnership = active()
        sender = person(partnership.agency)
        outcomes = race(
            lambda: services.partnership_end(actor=partnership.proposed_by, partnership_id=partnership.pk,
                                             reason="Joined HMIS."),
            lambda: services.intake_batch_record(actor=sender, partnership_id=partnership.pk,
                                                 received_at=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc),
                                                 intake_count=2))
        assert not any(o.startswith("error") for o in outcomes), outcomes
        if outcomes[1] != "done":
            assert "only while it is active" in outcomes[1]
            assert not IntakeBatch.objects.filter(partnership=partnership).exists()


def test_two_sweeps_at_once_flag_each_batch_once(policy_rows):
    partnership = active()
    person(partnership.partner)
    for minute in range(6):
        batch(partnership, received_at=dt.datetime(2026, 3, 2, 17, minute, tzinfo=dt.timezone.utc),
              at=dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.timezone.utc))
    now = dt.datetime(2026, 3, 20, 15, 0, tzinfo=dt.timezone.utc)
    outcomes = race(lambda: sweep_entry_deadlines(now=now), lambda: sweep_entry_deadlines(now=now))
    assert outcomes == ["done", "done"]
    sweep_entry_deadlines(now=now)
    assert AuditEvent.objects.filter(verb="became overdue").count() == 6
    assert AuditEvent.objects.filter(verb="escalated to CoC staff").count() == 6


def test_both_agencies_ending_at_once_end_it_once(policy_rows):
    for _ in range(3):
        partnership = active()
        outcomes = race(
            lambda: services.partnership_end(actor=partnership.proposed_by, partnership_id=partnership.pk,
                                             reason="Joined HMIS."),
            lambda: services.partnership_end(actor=partnership.decided_by, partnership_id=partnership.pk,
                                             reason="No capacity."))
        assert sorted(outcomes)[1] == "done", outcomes
        assert "already ended" in sorted(outcomes)[0], outcomes
        assert _verbs(partnership, "ended data partnership") == 1
