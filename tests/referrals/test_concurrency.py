"""Two people (or one double click) acting on the same referral at the same
moment, and the timeliness sweep running while someone moves a referral: the
row lock makes one wait for the other, which then finds the referral moved and
says so. Nobody gets a server error, and each change happens once."""

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse

from hmis_portal.core.models import AuditEvent, Notification
from referrals import services
from referrals.models import Referral, ReferralPolicy
from tests.concurrency import race
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

STALE = "changed since you opened the page"


def test_two_provider_staff_moving_the_same_referral_move_it_once(policy_rows):
    for _ in range(3):  # the race is timing-dependent: try it a few times
        program = ProgramFactory()
        first, second = provider_staff(program.organization), provider_staff(program.organization)
        referral = make_referral(program)
        version = referral.version
        outcomes = race(
            lambda: services.referral_change_status(actor=first, referral_id=referral.pk, expected_version=version,
                                                    to_status=status("attempting-contact")),
            lambda: services.referral_change_status(actor=second, referral_id=referral.pk, expected_version=version,
                                                    to_status=status("engaged")),
        )
        assert sorted(outcomes)[1] == "done", outcomes
        assert STALE in sorted(outcomes)[0], outcomes
        referral.refresh_from_db()
        assert referral.transitions.count() == 2  # referred, and the one move
        assert referral.version == version + 1
        assert AuditEvent.objects.filter(verb="changed need status", object_id=str(referral.pk)).count() == 1


def test_a_double_click_on_the_status_form_gets_a_message_not_an_error(policy_rows, client):
    from django.contrib.messages import get_messages
    from django.test import Client

    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program)
    url = reverse("referrals:change-status", args=[referral.pk])
    data = {"version": referral.version, "to_status": status("attempting-contact").pk}
    clients = [Client(), Client()]
    for each in clients:
        each.force_login(staff)
    responses = [None, None]

    def post(index):
        def call():
            responses[index] = clients[index].post(url, data)
        return call

    outcomes = race(post(0), post(1))
    assert outcomes == ["done", "done"], outcomes
    assert [r.status_code for r in responses] == [302, 302]
    said = [" ".join(str(m) for m in get_messages(r.wsgi_request)) for r in responses]
    assert sum("Need status set to" in s for s in said) == 1, said
    assert sum(STALE in s for s in said) == 1, said
    referral.refresh_from_db()
    assert referral.transitions.count() == 2
    assert AuditEvent.objects.filter(verb="changed need status", object_id=str(referral.pk)).count() == 1


def test_a_double_submit_of_a_new_referral_creates_one(policy_rows):
    program = ProgramFactory()
    ces = matcher()

    def create():
        services.referral_create(actor=ces, program=program, hmis_client_id="HC-RACE", contact_name="Jo",
                                 contact_phone="555-0100")

    outcomes = race(create, create)
    assert sorted(outcomes)[1] == "done", outcomes
    assert "already has an open referral" in sorted(outcomes)[0], outcomes
    (referral,) = Referral.objects.filter(hmis_client_id="HC-RACE")
    assert AuditEvent.objects.filter(verb="referred", object_id=str(referral.pk)).count() == 1


def _enrolled(program, staff):
    referral = make_referral(program, at=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    for code in ("attempting-contact", "engaged"):
        services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status(code))
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("enrolled"),
                                    enrollment_date=dt.date(2026, 3, 18))
    referral.refresh_from_db()
    return referral


def test_a_double_submit_of_the_move_in_date_records_it_once(policy_rows):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = _enrolled(program, staff)
    version = referral.version

    def record():
        services.referral_record_move_in(actor=staff, referral_id=referral.pk, move_in_date=dt.date(2026, 3, 20),
                                         expected_version=version)

    outcomes = race(record, record)
    assert sorted(outcomes)[1] == "done" and STALE in sorted(outcomes)[0], outcomes
    assert AuditEvent.objects.filter(verb="recorded housing move-in date", object_id=str(referral.pk)).count() == 1


def test_a_double_submit_of_a_transfer_request_requests_it_once(policy_rows):
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    ces = matcher()
    referral = make_referral(program)
    version = referral.version

    def transfer():
        services.referral_request_transfer(actor=staff, referral_id=referral.pk, reason="Needs a ground floor",
                                           expected_version=version)

    outcomes = race(transfer, transfer)
    assert sorted(outcomes)[1] == "done" and STALE in sorted(outcomes)[0], outcomes
    assert AuditEvent.objects.filter(verb="requested a transfer", object_id=str(referral.pk)).count() == 1
    assert Notification.objects.filter(to_email=ces.email, subject__startswith="Transfer requested").count() == 1


def test_the_sweep_skips_a_referral_being_moved_and_escalates_the_rest(policy_rows):
    """A provider moves a referral while the sweep runs: the sweep does not
    wait for it, fail on it or alert it, and escalates every other one."""
    LA = dt.timezone(dt.timedelta(hours=-8))
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    ces = matcher()
    referrals = [make_referral(program, actor=ces, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA)) for _ in range(4)]
    moving = referrals[0]  # first in the sweep's order
    locked, release = threading.Event(), threading.Event()
    outcome = []

    def provider_moves():
        try:
            with transaction.atomic():
                services.referral_change_status(actor=staff, referral_id=moving.pk,
                                                to_status=status("attempting-contact"),
                                                at=dt.datetime(2026, 1, 10, 0, 1, tzinfo=LA))
                locked.set()
                release.wait(timeout=20)  # the provider's transaction is still open while the sweep runs
            outcome.append("done")
        finally:
            connection.close()

    thread = threading.Thread(target=provider_moves)
    thread.start()
    assert locked.wait(timeout=10)
    try:
        started = time.monotonic()
        result = services.sweep_timeliness(now=dt.datetime(2026, 1, 10, 0, 5, tzinfo=LA))
        assert time.monotonic() - started < 10, "the sweep waited for the provider's lock"
    finally:
        release.set()
        thread.join(timeout=30)
    assert outcome == ["done"]
    assert result == {"overdue": 3, "escalated": 3, "moved": 3}
    for referral in referrals[1:]:
        referral.refresh_from_db()
        assert referral.status.code == "did-not-respond"
    moving.refresh_from_db()
    assert moving.status.code == "attempting-contact" and moving.escalated_at is None
    assert not AuditEvent.objects.filter(object_id=str(moving.pk), verb="escalated to the CES team").exists()
    escalated = Notification.objects.filter(subject__startswith="Escalated", to_email=ces.email)
    assert escalated.count() == 3


def _six_late_referrals():
    """Six referrals to one program, two a day on Jan 5-7, all overdue and
    past the escalation margin at the moment returned."""
    from tests.referrals.test_sweep import LA

    program = ProgramFactory()
    provider_staff(program.organization)
    matcher()
    for day in (5, 6, 7):
        for _ in range(2):
            make_referral(program, at=dt.datetime(2026, 1, day, 10, 0, tzinfo=LA))
    return dt.datetime(2026, 1, 20, 0, 5, tzinfo=LA)


def test_two_sweeps_at_once_make_the_same_changes_as_one(policy_rows):
    """Two workers running the sweep at the same moment (each a batch of half)
    together alert each referral once, like one run."""
    from tests.referrals.test_sweep import sweep_state

    ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=3)
    now = _six_late_referrals()
    outcomes = race(lambda: services.sweep_timeliness(now=now), lambda: services.sweep_timeliness(now=now))
    assert outcomes == ["done", "done"]
    services.sweep_timeliness(now=now)  # whatever a busy worker skipped
    state = sweep_state()
    assert state["escalated"] == 6 and state["overdue_alerts"] == 6
    assert len(state["notifications"]) == len(set(state["notifications"]))


def test_the_same_chunk_twice_and_a_whole_run_at_once_act_once(policy_rows):
    """A chunk delivered twice (a redelivered task beside the first) and a
    whole run, all at the same moment: each referral alerted and escalated
    once, as one run does."""
    from referrals.sweep import plan
    from tests.referrals.test_sweep import sweep_state

    now = _six_late_referrals()
    (overdue, escalation), *_rest = plan(now=now, parts=2)
    chunk = {"now": now, "overdue_ids": overdue, "escalation_ids": escalation}
    outcomes = race(lambda: services.sweep_timeliness(**chunk), lambda: services.sweep_timeliness(**chunk),
                    lambda: services.sweep_timeliness(now=now))
    assert outcomes == ["done"] * 3
    services.sweep_timeliness(now=now)  # whatever a busy worker skipped
    state = sweep_state()
    assert state["escalated"] == 6 and state["overdue_alerts"] == 6
    assert len(state["notifications"]) == len(set(state["notifications"]))
