"""The named signals between stages arrive after the sender's transaction
commits, in a transaction of their own, and never for a change rolled back: an
onboarding or training change does not hold HMIS-access rows locked while it
runs (hmis_portal.core.signals.send_on_commit). These tests commit for real."""

import pytest
from django.db import connection, transaction

from onboarding import services as onboarding_services
from onboarding.models import CESOrganizationRole
from onboarding.signals import participation_changed
from tests.factories import MembershipFactory, UserFactory
from tests.training.factories import session
from training import services as training_services
from training.signals import training_record_changed


class Rollback(Exception):
    pass


@pytest.fixture
def heard():
    """What receivers heard, and whether they ran inside a transaction of
    their own (not the sender's: that one has ended)."""
    calls = []

    def participation(sender, organization, **kwargs):
        calls.append(("participation", organization.pk, connection.in_atomic_block))

    def training(sender, user, **kwargs):
        calls.append(("training", user.pk, connection.in_atomic_block))

    participation_changed.connect(participation, dispatch_uid="test.participation")
    training_record_changed.connect(training, dispatch_uid="test.training")
    yield calls
    participation_changed.disconnect(dispatch_uid="test.participation")
    training_record_changed.disconnect(dispatch_uid="test.training")


def _set_roles(organization):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    onboarding_services.ces_roles_set(actor=manager, organization=organization,
                                      roles=list(CESOrganizationRole.objects.filter(active=True)[:1]))


def test_participation_changed_is_not_sent_when_the_change_rolls_back(policy_rows, organization, heard):
    with pytest.raises(Rollback), transaction.atomic():
        _set_roles(organization)
        assert heard == []  # not inside the sender's transaction
        raise Rollback
    assert heard == []


def test_participation_changed_is_sent_after_the_commit_in_its_own_transaction(policy_rows, organization, heard):
    with transaction.atomic():
        _set_roles(organization)
        assert heard == []
    assert heard == [("participation", organization.pk, True)]


def test_training_record_changed_waits_for_the_commit_and_not_a_rollback(policy_rows, heard):
    person, seats = UserFactory(), session("hmis-10", days=1)
    with pytest.raises(Rollback), transaction.atomic():
        training_services.session_register(actor=person, session_id=seats.pk)
        raise Rollback
    assert heard == []
    with transaction.atomic():
        training_services.session_register(actor=person, session_id=seats.pk)
        assert heard == []
    assert heard == [("training", person.pk, True)]


def test_the_same_signal_waiting_for_one_commit_is_heard_once_per_agency(policy_rows, organization,
                                                                          other_organization, heard):
    from hmis_portal.core.signals import send_on_commit
    from onboarding.models import OrganizationAgreement, Program

    with transaction.atomic():
        for _ in range(3):
            send_on_commit(participation_changed, sender=OrganizationAgreement, organization=organization)
        send_on_commit(participation_changed, sender=OrganizationAgreement, organization=other_organization)
        # Another sender is another notice.
        send_on_commit(participation_changed, sender=Program, organization=organization)
        assert heard == []
    assert heard == [("participation", organization.pk, True), ("participation", other_organization.pk, True),
                     ("participation", organization.pk, True)]


def test_a_notice_rolled_back_with_its_savepoint_does_not_swallow_the_next(policy_rows, organization, heard):
    from hmis_portal.core.signals import send_on_commit
    from onboarding.models import OrganizationAgreement

    with transaction.atomic():
        with pytest.raises(Rollback), transaction.atomic():
            send_on_commit(participation_changed, sender=OrganizationAgreement, organization=organization)
            raise Rollback
        send_on_commit(participation_changed, sender=OrganizationAgreement, organization=organization)
        with transaction.atomic():
            # Inside a savepoint, after the one waiting: still one notice.
            send_on_commit(participation_changed, sender=OrganizationAgreement, organization=organization)
    assert heard == [("participation", organization.pk, True)]
