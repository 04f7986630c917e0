"""The timeliness sweep: overdue alert to the provider, escalation to the CES
team at the margin, the policy's move, each once however often it runs."""

import datetime as dt

import pytest
from django.core.management import call_command

from hmis_portal.core.models import Notification
from referrals import services
from referrals.models import Referral
from tests.referrals.factories import ProgramFactory, make_referral, matcher, provider_staff, status

pytestmark = pytest.mark.django_db
LA = dt.timezone(dt.timedelta(hours=-8))  # PST: the dates below are all in winter


def sweep(at: str):
    call_command("run_sweeps", "--at", at, "--only", "referral-timeliness")


def test_overdue_then_escalated_once_each_however_often_the_sweep_runs():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    ces = matcher()
    # Monday Jan 5 2026: due by the end of Wednesday Jan 7; escalation at the
    # end of Friday Jan 9 (2 business days later).
    referral = make_referral(program, actor=ces, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    Notification.objects.all().delete()

    sweep("2026-01-07T23:59")
    assert not Notification.objects.exists()

    sweep("2026-01-08T00:05")
    sweep("2026-01-08T00:20")  # run twice: nothing new
    overdue = Notification.objects.filter(subject__startswith="Overdue CES referral")
    assert list(overdue.values_list("to_email", flat=True)) == [staff.email]
    assert not Notification.objects.filter(to_email=ces.email).exists()
    referral.refresh_from_db()
    assert referral.overdue_notified_at is not None and referral.status.code == "matched"

    sweep("2026-01-10T00:05")
    sweep("2026-01-10T00:05")
    escalated = Notification.objects.filter(subject__startswith="Escalated")
    assert list(escalated.values_list("to_email", flat=True)) == [ces.email]
    assert overdue.count() == 1
    referral.refresh_from_db()
    # Policy: the initial status's no-response status is the CES-team-only one.
    assert referral.status.code == "did-not-respond" and not referral.is_open
    assert referral.awaiting_rereferral
    last = referral.transitions.order_by("-made_at").first()
    assert last.actor is None and last.within_standard is False


def test_a_referral_the_provider_moved_is_not_alerted():
    program = ProgramFactory()
    staff = provider_staff(program.organization)
    referral = make_referral(program, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    services.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"),
                                    at=dt.datetime(2026, 1, 6, 10, 0, tzinfo=LA))
    Notification.objects.all().delete()
    sweep("2026-01-10T00:05")
    assert not Notification.objects.exists()
    # Attempting contact: 10 calendar days from Jan 6, overdue after Jan 16.
    sweep("2026-01-17T00:05")
    assert Notification.objects.filter(subject__startswith="Overdue").count() == 1
    referral.refresh_from_db()
    assert referral.status.code == "attempting-contact"  # no move is set for this status


def test_without_a_no_response_status_the_sweep_only_escalates():
    initial = status("matched")
    initial.no_response_status = None
    initial.save()
    referral = make_referral(at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    sweep("2026-01-12T00:05")
    referral.refresh_from_db()
    assert referral.status.code == "matched" and referral.escalated_at is not None


def test_the_sweep_is_bounded_per_run():
    from referrals.models import ReferralPolicy

    ReferralPolicy.objects.filter(pk=1).update(sweep_batch_size=2)
    program = ProgramFactory()
    for _ in range(3):
        make_referral(program, at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    sweep("2026-01-08T00:05")
    assert Referral.objects.filter(overdue_notified_at__isnull=False).count() == 2
    sweep("2026-01-08T00:20")
    assert Referral.objects.filter(overdue_notified_at__isnull=False).count() == 3
