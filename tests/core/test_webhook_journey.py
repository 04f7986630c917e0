"""Done when a receiver verifies every event of a full agency journey, in
order, once: the agency's agreement returned then executed, its program's
setup confirmed, a person's access request ready and granted, the account
made Inactive by the nightly sweep and reactivated, a referral created,
overdue and changed, each decided through the portal's own services and
delivered by the delivery job, every request verified by the receiver with
the `standardwebhooks` library on its own."""

import datetime as dt

import pytest
from django.core.management import call_command

from hmis_access.models import HMISAccount
from hmis_access.services import access_request_grant
from hmis_accounts import services as activity
from hmis_portal.core import webhooks
from hmis_portal.core.calendar import local_date
from hmis_portal.core.models import WebhookDelivery
from hmis_portal.core.tasks import deliver_webhooks
from onboarding import services as onboarding
from onboarding.models import OrganizationAgreement, Program, ProgramType
from referrals import services as referrals
from tests.factories import OrganizationFactory, StaffFactory
from tests.hmis_access.hmis import agency_admin, local, sweep
from tests.onboarding.factories import AgreementFactory
from tests.referrals.factories import ProgramFactory as HousingProgramFactory
from tests.referrals.factories import make_referral, matcher, provider_staff, status
from tests.training.factories import finish_everything, identify, manager_of
from tests.webhook_receiver import receiving

pytestmark = pytest.mark.django_db
LA = dt.timezone(dt.timedelta(hours=-8))  # PST: the referral's dates are in winter

JOURNEY = ["agreement.returned", "agreement.executed", "program.setup_confirmed", "access_request.ready",
           "access_request.granted", "hmis_account.inactive", "hmis_account.reactivated", "referral.created",
           "referral.overdue", "referral.changed"]


def _journey(agency):
    implementation = StaffFactory(groups=["CoC implementation"])
    agreement = AgreementFactory(organization=agency)
    onboarding.agreement_return(actor=implementation, agreement=agreement, reason="Page 3 is not signed.")
    # The agency uploads a corrected copy (its own step, tested in tests/onboarding): submitted again.
    OrganizationAgreement.objects.filter(pk=agreement.pk).update(status=OrganizationAgreement.Status.SUBMITTED)
    agreement.refresh_from_db()
    onboarding.agreement_countersign(actor=implementation, agreement=agreement)
    program = Program.objects.create(organization=agency, name="Access Center",
                                     program_type=ProgramType.objects.get(code="access-center"),
                                     setup_status=Program.SetupStatus.SETUP_COMPLETE)
    onboarding.program_setup_confirm(actor=manager_of(agency), program=program)

    request = finish_everything(identify(agency, programs=[program]), StaffFactory(groups=["CoC training"]))
    access_request_grant(actor=StaffFactory(groups=["CoC provisioning"]), access_request_id=request.pk,
                         hmis_username="rexample", hmis_role="CES_Standard")
    account = HMISAccount.objects.get(user=request.user)
    # 31 days without a login: the nightly sweep (set-based) makes it Inactive.
    today = local_date()
    HMISAccount.objects.filter(pk=account.pk).update(
        last_hmis_login_at=local(today - dt.timedelta(days=31), 10),
        inactivity_counted_from=today - dt.timedelta(days=31), retraining_counted_from=today - dt.timedelta(days=31))
    sweep(local(today, 0, 5).isoformat())
    reactivation = activity.reactivation_request_create(actor=agency_admin(agency), account=account)
    activity.hmis_account_reactivate(actor=StaffFactory(groups=["CoC provisioning"]),
                                     reactivation_request=reactivation)

    housing = HousingProgramFactory(organization=agency)
    staff = provider_staff(agency)
    referral = make_referral(housing, actor=matcher(), client_id="HC-SECRET-77", contact_name="Jamie Client",
                             at=dt.datetime(2026, 1, 5, 10, 0, tzinfo=LA))
    # Due by the end of Wednesday Jan 7: the timeliness sweep (set-based) finds it overdue on Thursday.
    call_command("run_sweeps", "--at", "2026-01-08T00:05", "--only", "referral-timeliness")
    referrals.referral_change_status(actor=staff, referral_id=referral.pk, to_status=status("attempting-contact"))
    return {"agreement": agency, "account": account, "referral": referral, "request": request}


def test_a_receiver_verifies_every_event_of_an_agency_journey_in_order_once(settings):
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    agency = OrganizationFactory()
    with receiving() as receiver:
        subscription, receiver.secret = webhooks.webhook_subscription_create(
            actor=StaffFactory(groups=["CoC system admin"]), url=receiver.url, event_types=list(webhooks.EVENTS))
        made = _journey(agency)
        assert receiver.requests == 0, "a decision waited for the receiver"
        summary = deliver_webhooks()
        deliver_webhooks()  # a second run sends nothing again
    assert receiver.rejected == []
    assert receiver.types() == JOURNEY, summary
    assert len(set(receiver.ids())) == len(JOURNEY) == WebhookDelivery.objects.filter(
        subscription=subscription, status=WebhookDelivery.Status.DELIVERED).count()
    by_type = {hit["type"]: hit["payload"]["data"] for hit in receiver.verified}
    assert by_type["access_request.granted"]["id"] == made["request"].pk
    assert by_type["access_request.granted"]["state"] == "provisioned"
    assert by_type["hmis_account.inactive"] == {
        "id": made["account"].pk, "state": "inactive", "agency_id": agency.pk,
        "link": f"https://portal.example.org/agencies/{agency.slug}/hmis-accounts/"}
    assert by_type["hmis_account.reactivated"]["state"] == "active"
    assert by_type["referral.changed"]["id"] == made["referral"].pk
    assert by_type["referral.changed"]["from_state"] != by_type["referral.changed"]["state"]
    assert by_type["referral.changed"]["link"] == f"https://portal.example.org/referrals/{made['referral'].pk}/"
    for hit in receiver.verified:
        data = hit["payload"]["data"]
        assert data["agency_id"] == agency.pk and data["link"].startswith("https://portal.example.org/")
        assert set(data) <= webhooks.ALLOWED_DATA
        # Never client data, never a person's name or email.
        text = str(hit["body"])
        assert "HC-SECRET-77" not in text and "Jamie" not in text and "@" not in text
