"""Concurrent twins of the CoC's approval of an access request: two staff
members (or one double click) deciding at once, and the agency withdrawing
while CoC staff approve. Exactly one change and one audit event happen; the
other gets a clear refusal, never an error. PostgreSQL only."""

import pytest

from hmis_access.models import AccessPolicy, AccessRequest
from hmis_access.services import access_request_approve, access_request_decline, access_request_withdraw
from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from tests.concurrency import race as run_at_once
from tests.factories import StaffFactory
from tests.training.factories import identify, participating

# Transactional: `policy_rows` reloads what the data migrations load, which an
# earlier transactional test's flush emptied.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*calls):
    outcomes = run_at_once(*calls)
    assert not any(o is None or o.startswith("error") for o in outcomes), outcomes
    return outcomes


@pytest.fixture
def waiting(policy_rows, organization):
    AccessPolicy.current()
    AccessPolicy.objects.filter(pk=1).update(access_requests_need_approval=True)
    programs = participating(organization, "access-center")
    request = identify(organization, programs=list(programs.values()))
    assert request.status == AccessRequest.Status.AWAITING_APPROVAL
    return request


def _staff(n=2):
    return [StaffFactory(groups=["CoC provisioning"]) for _ in range(n)]


def test_two_staff_approve_one_request_once(waiting):
    staff = _staff()
    outcomes = race(*[lambda s=s: access_request_approve(actor=s, access_request_id=waiting.pk) for s in staff])
    assert outcomes.count("done") == 1 and any("already approved by" in o for o in outcomes)
    assert AccessRequest.objects.get(pk=waiting.pk).status == AccessRequest.Status.OPEN
    assert events_for(waiting).filter(verb="approved").count() == 1
    assert Notification.objects.filter(to_email=waiting.user.email,
                                       subject="Your HMIS access request was approved").count() == 1


def test_approve_and_decline_at_once_do_one_of_them(waiting):
    approver, decliner = _staff()
    outcomes = race(lambda: access_request_approve(actor=approver, access_request_id=waiting.pk),
                    lambda: access_request_decline(actor=decliner, access_request_id=waiting.pk, reason="Not staff"))
    assert outcomes.count("done") == 1 and any("already" in o for o in outcomes)
    status = AccessRequest.objects.get(pk=waiting.pk).status
    assert status in (AccessRequest.Status.OPEN, AccessRequest.Status.DECLINED)
    assert events_for(waiting).filter(verb__in=["approved", "declined"]).count() == 1


def test_approve_and_withdraw_at_once_do_one_of_them(waiting):
    (approver,) = _staff(1)
    outcomes = race(lambda: access_request_approve(actor=approver, access_request_id=waiting.pk),
                    lambda: access_request_withdraw(actor=waiting.requested_by, access_request_id=waiting.pk))
    # Withdrawing an approved request is still allowed (it is live): either
    # both happen in turn (approved, then withdrawn) or the approval finds
    # it withdrawn and changes nothing.
    final = AccessRequest.objects.get(pk=waiting.pk)
    assert final.status == AccessRequest.Status.WITHDRAWN
    assert events_for(waiting).filter(verb="withdrew").count() == 1
    approved = events_for(waiting).filter(verb="approved").count()
    assert (outcomes.count("done"), approved) in ((2, 1), (1, 0))
    if approved == 0:
        assert any("withdrawn" in o for o in outcomes)
