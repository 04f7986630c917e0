"""Demo data for accounts: CoC staff in every group and agencies with every
persona. Idempotent: re-running finds the same rows by email and name.

Other apps build on these with `demo_user` and `demo_organization`. Every
address is at example.org; no real person's name is used.
"""

from django.contrib.auth.models import Group

from hmis_portal.core.demo import DEMO_PASSWORD, remember_login
from hmis_portal.core import webhooks
from hmis_portal.core.models import MailPolicy, WebhookSubscription

from .models import CoCGroup, Membership, Organization, Persona, User



def demo_organization(name: str) -> Organization:
    organization, _ = Organization.objects.get_or_create(name=name)
    return organization


def demo_user(email: str, full_name: str, *, label: str | None = None, staff_groups=(), superuser=False,
              memberships=()) -> User:
    """Create or refresh a demo login; `memberships` is [(organization, persona)]."""
    user = User.objects.filter(email=email).first()
    created = user is None
    if created:
        user = User(email=email)
    wanted = {"full_name": full_name, "is_staff": bool(staff_groups) or superuser, "is_superuser": superuser}
    # Written only when it differs (the demo names many people more than once).
    stale = created or any(getattr(user, name) != value for name, value in wanted.items())
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        stale = True
    if stale:
        for name, value in wanted.items():
            setattr(user, name, value)
        user.save()
    if staff_groups:
        user.groups.set(Group.objects.filter(name__in=[g.value for g in staff_groups]))
    for organization, persona in memberships:
        # Not get_or_create: no savepoint around the insert (nothing else writes the demo's people meanwhile).
        if created or not Membership.objects.filter(user=user, organization=organization, persona=persona).exists():
            Membership.objects.create(user=user, organization=organization, persona=persona)
    if label:
        remember_login(label, email)
    return user


def seed(stdout) -> None:
    demo_user("admin@example.org", "Avery Admin", label="CoC system admin (superuser)", superuser=True,
              staff_groups=[CoCGroup.SYSTEM_ADMIN])
    demo_user("implementation@example.org", "Jordan Implementer", label="CoC implementation team",
              staff_groups=[CoCGroup.IMPLEMENTATION])
    demo_user("trainer@example.org", "Riley Trainer", label="CoC training staff", staff_groups=[CoCGroup.TRAINING])
    demo_user("provisioning@example.org", "Casey Provisioner", label="CoC provisioning staff",
              staff_groups=[CoCGroup.PROVISIONING])
    demo_user("matcher@example.org", "Morgan Matcher", label="CES matcher (CES team)",
              staff_groups=[CoCGroup.CES_TEAM])

    harbor = demo_organization("Harbor Light Housing")
    demo_user("director@harbor.example.org", "Dana Director", label="Executive Director (Harbor Light Housing)",
              memberships=[(harbor, Persona.EXECUTIVE_DIRECTOR)])
    demo_user("manager@harbor.example.org", "Pat Manager", label="Program Manager (Harbor Light Housing)",
              memberships=[(harbor, Persona.PROGRAM_MANAGER)])
    demo_user("agencyadmin@harbor.example.org", "Alex Agencyadmin",
              label="Agency Administrator (Harbor Light Housing)",
              memberships=[(harbor, Persona.AGENCY_ADMINISTRATOR)])
    demo_user("staff@harbor.example.org", "Sam Staff", label="End user / housing provider staff (Harbor Light Housing)",
              memberships=[(harbor, Persona.STAFF)])
    # The CoC's three inboxes and the CES team's, so replies to demo mail show where they would go.
    mail = MailPolicy.current()
    if not mail.implementation_inbox:
        mail.implementation_inbox, mail.support_inbox = "join-hmis@coc.example.org", "hmis-support@coc.example.org"
        mail.training_inbox, mail.ces_inbox = "hmis-training@coc.example.org", "ces@coc.example.org"
        mail.save()
    _webhook_subscriptions(owner=User.objects.get(email="admin@example.org"))
    stdout.write(f"accounts: {User.objects.count()} users, {Organization.objects.count()} agencies")


# Two systems that subscribe to the portal's events, as a CoC's IT staff would
# set them up on the Webhooks page: one receiving, one paused. Each signing
# secret is made by the service and never printed (a system admin rotates it
# on the Webhooks page to read a new one); the receivers are under example.org.
DEMO_WEBHOOKS = (
    ("https://dashboard.example.org/hooks/hmis-portal", "CoC dashboard: onboarding and partnerships",
     ["agreement.executed", "agreement.returned", "program.setup_confirmed", "partnership.accepted",
      "partnership.ended"], WebhookSubscription.Status.ACTIVE),
    ("https://warehouse.example.org/webhooks/hmis-portal", "Data warehouse: referrals (paused for maintenance)",
     ["referral.created", "referral.changed", "referral.overdue"], WebhookSubscription.Status.PAUSED),
)


def _webhook_subscriptions(*, owner) -> None:
    existing = set(WebhookSubscription.objects.filter(url__in=[url for url, *_ in DEMO_WEBHOOKS])
                   .values_list("url", flat=True))
    for url, description, events, status in DEMO_WEBHOOKS:
        if url in existing:
            continue
        subscription, _secret = webhooks.webhook_subscription_create(
            actor=owner, url=url, event_types=events, description=description)
        if status == WebhookSubscription.Status.PAUSED:
            webhooks.webhook_subscription_pause(actor=owner, subscription=subscription)
