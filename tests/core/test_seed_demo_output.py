"""`make run` ends with the demo logins: seeding prints a short summary, no mail, no task logs."""

import logging
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from hmis_portal.core.demo import LOGINS
from hmis_portal.core import outbox
from hmis_portal.core.models import Notification

pytestmark = pytest.mark.django_db


def test_seed_demo_output_is_short_and_ends_with_the_logins(capsys, caplog, settings,
                                                           django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    out = StringIO()
    # Run what waits for the commit, as `make run` would.
    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--i-know-this-is-not-production", stdout=out)
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err == ""  # no email went to the console
    assert not [r for r in caplog.records if r.name.startswith(("celery", "kombu"))]
    lines = out.getvalue().rstrip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Demo logins"))
    assert start < 12, lines[:start]  # a few summary lines before the logins
    assert lines[start + 1:] == [line for line in lines[start + 1:] if line.startswith("  ")]
    assert len(lines) - start - 1 == len(LOGINS)
    assert "admin@example.org" in lines[start + 1]
    # The demo's messages are kept, pending, for the delivery job.
    pending = Notification.objects.filter(status=Notification.Status.PENDING)
    assert pending.exists() and not Notification.objects.filter(status=Notification.Status.SENT).exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    waiting = pending.count()
    assert outbox.deliver_pending()["sent"] == waiting == len(mail.outbox)
    _every_agency_got_there_through_the_services()
    _webhook_subscriptions_one_active_one_paused_their_secrets_unprinted(out.getvalue(), printed)


def _webhook_subscriptions_one_active_one_paused_their_secrets_unprinted(text, printed):
    from urllib.parse import urlsplit

    from hmis_portal.core.models import WebhookSubscription

    subscriptions = list(WebhookSubscription.objects.order_by("pk"))
    assert sorted(s.status for s in subscriptions) == sorted([WebhookSubscription.Status.ACTIVE,
                                                              WebhookSubscription.Status.PAUSED])
    for subscription in subscriptions:
        parts = urlsplit(subscription.url)
        assert parts.scheme == "https" and parts.hostname.endswith(".example.org")
        secret = subscription.signing_secret
        assert secret.startswith("whsec_") and len(secret) > 40
        assert "whsec_" not in subscription.secret  # sealed at rest
        assert secret not in text and secret not in printed.out + printed.err
        assert subscription.owner.email == "admin@example.org" and subscription.description
    assert subscriptions[0].signing_secret != subscriptions[1].signing_secret
    assert "whsec_" not in text


def _every_agency_got_there_through_the_services():
    """The demo's agencies reach their stage as a real agency does, each step
    an audit event by a person: an executed agreement was submitted and
    countersigned, a program's setup requested, and a confirmed one confirmed."""
    from django.contrib.contenttypes.models import ContentType

    from hmis_portal.core.models import AuditEvent
    from onboarding.models import OrganizationAgreement, Program

    def done(model, verb):
        return set(AuditEvent.objects.filter(content_type=ContentType.objects.get_for_model(model), verb=verb,
                                             actor__isnull=False).values_list("object_id", flat=True))

    def ids(queryset):
        return {str(pk) for pk in queryset.values_list("pk", flat=True)}

    executed = ids(OrganizationAgreement.objects.filter(status=OrganizationAgreement.Status.EXECUTED))
    assert executed and executed <= done(OrganizationAgreement, "countersigned agreement")
    assert executed <= done(OrganizationAgreement, "submitted agreement")
    assert ids(Program.objects.all()) <= done(Program, "requested program setup")
    confirmed = ids(Program.objects.filter(setup_status=Program.SetupStatus.CONFIRMED))
    assert confirmed and confirmed <= done(Program, "confirmed program setup")
