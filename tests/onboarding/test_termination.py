"""CoC staff terminate an agency's executed Organization Agreement before its
term ends (an agency that leaves, or breaches it): the agency no longer
participates, and is told why."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from hmis_portal.core.audit import events_for
from hmis_portal.core.models import Notification
from onboarding import selectors, services
from onboarding.models import OrganizationAgreement, ParticipationStage
from onboarding.signals import participation_changed
from tests.factories import MembershipFactory, StaffFactory
from tests.onboarding.factories import add_copy, executed_agreement

Status = OrganizationAgreement.Status
pytestmark = pytest.mark.django_db
REASON = "The agency closed its Los Angeles office."


@pytest.fixture
def implementer():
    return StaffFactory(groups=["CoC implementation"])


@pytest.fixture
def executed(organization):
    agreement = executed_agreement(organization)
    add_copy(agreement)
    return agreement


def test_coc_staff_terminate_an_executed_agreement_and_the_agency_is_told(organization, owner, executed,
                                                                         implementer):
    manager = MembershipFactory(organization=organization, persona="program_manager").user
    staff = MembershipFactory(organization=organization, persona="staff").user
    received = []
    participation_changed.connect(lambda sender, organization, **kw: received.append(organization), weak=False,
                                  dispatch_uid="test-termination")
    try:
        services.agreement_terminate(actor=implementer, agreement=executed, reason=f"  {REASON}  ")
    finally:
        participation_changed.disconnect(dispatch_uid="test-termination")

    executed.refresh_from_db()
    assert executed.status == Status.TERMINATED
    assert (executed.terminated_by, executed.termination_reason) == (implementer, REASON)
    assert executed.terminated_at and executed.status_changed_at == executed.terminated_at
    assert received == [organization]
    event = events_for(executed).first()
    assert (event.verb, event.actor, event.from_state, event.to_state, event.reason) == (
        "terminated agreement", implementer, Status.EXECUTED, Status.TERMINATED, REASON)
    assert not selectors.agreement_executed(organization)
    assert selectors.participation_stage(organization) == ParticipationStage.AGREEMENT_TERMINATED
    for person in (owner, manager):
        [mail] = Notification.objects.filter(recipient=person, subject__contains="terminated")
        assert REASON in mail.body
    assert not Notification.objects.filter(recipient=staff, subject__contains="terminated").exists()


def test_a_reason_is_needed_and_nothing_changes_without_one(executed, implementer):
    with pytest.raises(ValidationError) as refusal:
        services.agreement_terminate(actor=implementer, agreement=executed, reason="   ")
    assert "reason" in refusal.value.message_dict
    executed.refresh_from_db()
    assert executed.status == Status.EXECUTED
    assert not events_for(executed).filter(verb="terminated agreement").exists()


def test_a_double_submit_terminates_once(executed, implementer):
    services.agreement_terminate(actor=implementer, agreement=executed, reason=REASON)
    with pytest.raises(ValidationError, match="already terminated"):
        services.agreement_terminate(actor=StaffFactory(groups=["CoC system admin"]), agreement=executed,
                                     reason="Another reason.")
    executed.refresh_from_db()
    assert (executed.terminated_by, executed.termination_reason) == (implementer, REASON)
    assert [e.verb for e in events_for(executed)].count("terminated agreement") == 1


def test_only_an_executed_agreement_is_terminated(organization, implementer):
    from tests.onboarding.factories import AgreementFactory

    submitted = AgreementFactory(organization=organization)
    with pytest.raises(ValidationError, match="Only an executed agreement"):
        services.agreement_terminate(actor=implementer, agreement=submitted, reason=REASON)
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED


@pytest.mark.parametrize("who", ["ces", "provisioning", "executive_director"])
def test_only_the_staff_who_countersign_terminate(organization, executed, who):
    if who == "executive_director":
        actor = MembershipFactory(organization=organization, persona="executive_director").user
    else:
        actor = StaffFactory(groups=["CES team" if who == "ces" else "CoC provisioning"])
    with pytest.raises(PermissionDenied):
        services.agreement_terminate(actor=actor, agreement=executed, reason=REASON)
    executed.refresh_from_db()
    assert executed.status == Status.EXECUTED


def test_the_agency_can_sign_a_new_agreement_after_a_termination(client, organization, owner, executed,
                                                                  implementer):
    services.agreement_terminate(actor=implementer, agreement=executed, reason=REASON)
    assert selectors.open_agreement(organization) is None
    from tests.onboarding.test_agreements import upload

    client.force_login(owner)
    upload(client, organization)
    agreement = selectors.open_agreement(organization)
    assert agreement.status == Status.SUBMITTED and agreement.renewal_of is None
    assert selectors.participation_stage(organization) == ParticipationStage.AGREEMENT_SUBMITTED


# --- the page ------------------------------------------------------------------------------------------------------

def test_the_agreement_page_offers_termination_to_countersigning_staff_only(client, organization, owner, executed,
                                                                           implementer):
    url = reverse("onboarding:agreement-detail", args=[executed.pk])
    action = reverse("onboarding:agreement-terminate", args=[executed.pk])
    client.force_login(owner)
    assert action not in client.get(url).content.decode()
    client.force_login(implementer)
    page = client.get(url).content.decode()
    assert action in page and "Terminate the agreement" in page

    refused = client.post(action, {"reason": ""}, follow=True)
    assert "Say why" in refused.content.decode()
    executed.refresh_from_db()
    assert executed.status == Status.EXECUTED

    done = client.post(action, {"reason": REASON}, follow=True)
    assert done.redirect_chain[-1][0] == url
    page = done.content.decode()
    assert "The agreement was terminated" in page and REASON in page
    assert action not in page  # nothing left to terminate
    again = client.post(action, {"reason": REASON}, follow=True)
    assert "already terminated" in again.content.decode()
    assert [e.verb for e in events_for(executed)].count("terminated agreement") == 1


@pytest.mark.parametrize("pack", ["la", "mo-bos"])
def test_the_confirmation_names_who_the_notice_went_to(client, organization, owner, executed, implementer, pack):
    """The words come from the personas the notice is sent to and the agency's
    people hold (mo-bos calls the Executive Director its Authorized
    Representative: the persona's label says both), not from fixed words that
    named a Program Manager at an agency without one."""
    from hmis_portal import policy_pack

    policy_pack.load(pack)
    action = reverse("onboarding:agreement-terminate", args=[executed.pk])
    client.force_login(implementer)
    page = client.post(action, {"reason": REASON}, follow=True).content.decode()
    mailed = {membership.get_persona_display()
              for mail in Notification.objects.filter(subject__contains="terminated")
              for membership in mail.recipient.memberships.filter(organization=organization)}
    assert mailed == {"Executive Director / Authorized Representative"}
    assert "The agency&#x27;s Executive Director / Authorized Representative was told why." in page

    # With a Program Manager too, both are named, in the order the notice names them.
    other = executed_agreement(MembershipFactory(persona="program_manager").organization)
    add_copy(other)
    MembershipFactory(organization=other.organization, persona="executive_director")
    page = client.post(reverse("onboarding:agreement-terminate", args=[other.pk]), {"reason": REASON},
                       follow=True).content.decode()
    assert ("The agency&#x27;s Executive Director / Authorized Representative and Program Manager were told why."
            in page)
