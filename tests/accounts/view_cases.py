from tests.view_permissions import ViewCase

CASES = [
    # Every member of an agency sees its people; CoC staff who look after
    # agencies see them too.
    ViewCase(
        "organization-detail",
        build=lambda organization: {"slug": organization.slug},
        personas="any",
        coc_groups=("CoC implementation", "CoC training", "CoC provisioning", "CES team", "CoC system admin"),
    ),
]


def _invitation(organization):
    from django.utils import timezone

    from accounts.models import Invitation

    return Invitation.objects.create(
        organization=organization, email=f"invitee-{organization.pk}@example.org", persona="staff",
        token_hash=f"{organization.pk:064d}", expires_at=timezone.now() + timezone.timedelta(days=3))


INVITERS = ("program_manager", "agency_administrator")
AGENCY_MANAGERS = ("CoC implementation", "CoC system admin")

CASES += [
    # An agency's Program Manager or Agency Administrator invites its staff; the implementation team anyone.
    ViewCase("organization-invite", build=lambda o: {"slug": o.slug}, personas=INVITERS, coc_groups=AGENCY_MANAGERS),
    ViewCase("organization-invite", build=lambda o: {"slug": o.slug}, personas=INVITERS, coc_groups=AGENCY_MANAGERS,
             method="post", data=lambda kw: {"email": ""}),
    ViewCase("invitation-resend", build=lambda o: {"pk": _invitation(o).pk}, personas=INVITERS,
             coc_groups=AGENCY_MANAGERS, method="post"),
    ViewCase("invitation-revoke", build=lambda o: {"pk": _invitation(o).pk}, personas=INVITERS,
             coc_groups=AGENCY_MANAGERS, method="post"),
    # CoC staff find agencies and people across the CoC.
    ViewCase("agency-search", coc_groups=("CoC implementation", "CoC training", "CoC provisioning", "CES team",
                                          "CoC system admin"), agency_object=False),
]


def _api_key(organization):
    from accounts.apikeys.services import api_key_create
    from tests.factories import MembershipFactory

    owner = MembershipFactory(organization=organization, persona="executive_director").user
    key, _plain = api_key_create(actor=owner, owner=owner, name="Dashboard", scopes=["read"])
    return {"pk": key.pk}


def _webhook(organization):
    from hmis_portal.core.models import WebhookSubscription

    subscription = WebhookSubscription.objects.create(
        url=f"https://hooks-{organization.pk}.example.org/in", event_types=" agreement.executed ",
        secret="whsec_" + "A" * 44)
    return {"pk": subscription.pk}


def _webhook_delivery(organization):
    from hmis_portal.core.models import WebhookDelivery

    delivery = WebhookDelivery.objects.create(subscription_id=_webhook(organization)["pk"], event_id="msg_view_case",
                                              event_type="agreement.executed", subject=f"agreement:{organization.pk}",
                                              payload={"type": "agreement.executed"},
                                              status=WebhookDelivery.Status.DELIVERED)
    return {"pk": delivery.pk}


SYSTEM_ADMINS = ("CoC system admin",)

CASES += [
    # Webhooks are the system admins' configuration: the list and a new subscription, each one's
    # delivery log, its buttons, and Replay.
    # A key is its owner's alone: nobody else rotates or revokes it here (404).
    ViewCase("api-key-rotate", build=_api_key, agency_object=False, method="post"),
    ViewCase("api-key-revoke", build=_api_key, agency_object=False, method="post"),
    ViewCase("webhooks", coc_groups=SYSTEM_ADMINS, agency_object=False),
    ViewCase("webhooks", coc_groups=SYSTEM_ADMINS, agency_object=False, method="post",
             data=lambda kwargs: {"url": "not a url"}),
    ViewCase("webhook-detail", build=_webhook, coc_groups=SYSTEM_ADMINS, agency_object=False),
    ViewCase("webhook-pause", build=_webhook, coc_groups=SYSTEM_ADMINS, agency_object=False, method="post"),
    ViewCase("webhook-resume", build=_webhook, coc_groups=SYSTEM_ADMINS, agency_object=False, method="post"),
    ViewCase("webhook-rotate", build=_webhook, coc_groups=SYSTEM_ADMINS, agency_object=False, method="post"),
    ViewCase("webhook-delete", build=_webhook, coc_groups=SYSTEM_ADMINS, agency_object=False, method="post"),
    ViewCase("webhook-replay", build=_webhook_delivery, coc_groups=SYSTEM_ADMINS, agency_object=False,
             method="post"),
]
