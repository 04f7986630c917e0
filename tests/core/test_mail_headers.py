"""Every message the outbox sends names itself: a Message-ID made from the
notification and the portal's domain, the same on every try, so a copy sent
again after a worker died mid-send is recognised as the same message by the
recipient's mail system; and it says it was sent automatically."""

import datetime as dt
import email
import email.policy

import pytest
from django.core import mail
from django.utils import timezone

from hmis_portal.core import outbox
from hmis_portal.core.models import Notification
from tests.faults import smtp_sink

pytestmark = pytest.mark.django_db


def _resend_as_after_a_killed_worker(message):
    """The process that sent `message` died before marking it sent: the row
    is still "sending", claimed long ago; the delivery job sends it again."""
    assert outbox.deliver(message.pk)
    Notification.objects.filter(pk=message.pk).update(
        status=Notification.Status.SENDING, claimed_at=timezone.now() - outbox.CLAIM_TIMEOUT - dt.timedelta(minutes=1))
    assert outbox.deliver_pending()["sent"] == 1


def test_a_message_sent_twice_carries_the_same_message_id_under_the_portal_domain(settings):
    settings.PORTAL_BASE_URL = "https://portal.coc.example.org"
    [message] = outbox.notify(recipients=["someone@example.org"], subject="Agreement returned", body="b")
    [other] = outbox.notify(recipients=["other@example.org"], subject="Agreement returned", body="b")
    assert outbox.deliver(other.pk)
    _resend_as_after_a_killed_worker(message)
    first, again = [m for m in mail.outbox if m.to == ["someone@example.org"]]
    [second] = [m for m in mail.outbox if m.to == ["other@example.org"]]
    ids = [m.message()["Message-ID"] for m in (first, again, second)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<") and ids[0].endswith("@portal.coc.example.org>")
    assert str(message.pk) in ids[0]
    assert all(m.message()["Auto-Submitted"] == "auto-generated" for m in (first, again, second))


def test_the_message_id_reaches_the_mail_server_unchanged_on_each_try(settings):
    settings.PORTAL_BASE_URL = "https://portal.coc.example.org:8443"
    with smtp_sink() as (port, received):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        [message] = outbox.notify(recipients=["someone@example.org"], subject="Training tomorrow", body="b")
        _resend_as_after_a_killed_worker(message)
    assert len(received) == 2
    parsed = [email.message_from_string(raw, policy=email.policy.default) for raw in received]
    assert parsed[0]["Message-ID"] == parsed[1]["Message-ID"]
    assert parsed[0]["Message-ID"].endswith("@portal.coc.example.org>")
    assert [p["Auto-Submitted"] for p in parsed] == ["auto-generated", "auto-generated"]


INBOXES = {"implementation_inbox": "join@coc.example.org", "support_inbox": "support@coc.example.org",
           "training_inbox": "training@coc.example.org", "ces_inbox": "ces@coc.example.org"}


@pytest.mark.parametrize("link, inbox", [
    ("/training/sessions/", "training@coc.example.org"),
    ("/my-access/", "support@coc.example.org"),
    ("/hmis-account/", "support@coc.example.org"),
    ("/onboarding/queue/", "join@coc.example.org"),
    ("/partnerships/", "join@coc.example.org"),
    ("/referrals/list/", "ces@coc.example.org"),
])
def test_replies_go_to_the_inbox_of_the_team_whose_page_the_message_links_to(link, inbox):
    """A person who answers a message reaches the CoC team that can help with
    what it is about (the team whose page it links to), from the CoC's mail
    policy, not the address that sent it."""
    from hmis_portal.core.models import MailPolicy

    policy = MailPolicy.current()
    for name, address in INBOXES.items():
        setattr(policy, name, address)
    policy.save()
    [message] = outbox.notify(recipients=["someone@example.org"], subject="s", body="b", link=link)
    assert outbox.deliver(message.pk)
    assert mail.outbox[-1].message()["Reply-To"] == inbox


def test_without_an_inbox_or_a_portal_link_there_is_no_reply_to():
    from hmis_portal.core.models import MailPolicy

    MailPolicy.current().save()  # every inbox left blank
    for link in ("/training/sessions/", "", "https://elsewhere.example.org/", "/no/such/page/"):
        [message] = outbox.notify(recipients=[f"p{len(link)}@example.org"], subject="s", body="b", link=link)
        assert outbox.deliver(message.pk)
        assert mail.outbox[-1].message()["Reply-To"] is None


def test_the_password_reset_mail_is_built_as_every_other_portal_mail(client, settings):
    """The reset mail is sent at once (its link must never wait in the outbox
    where staff can read it), but it is built by the same builder as every
    message the outbox sends: the plain text and the one HTML template, a
    Message-ID under the portal's domain, Auto-Submitted, and replies to the
    support inbox of the mail policy."""
    from django.urls import reverse

    from hmis_portal.core.models import MailPolicy
    from tests.factories import UserFactory

    settings.PORTAL_BASE_URL = "https://portal.coc.example.org"
    settings.ALLOWED_HOSTS = ["portal.coc.example.org", "localhost"]
    policy = MailPolicy.current()
    for name, address in INBOXES.items():
        setattr(policy, name, address)
    policy.save()
    UserFactory(email="pat@example.org")
    client.post(reverse("password_reset"), {"email": "pat@example.org"}, HTTP_HOST="localhost:8180")
    [sent] = mail.outbox
    parsed = sent.message()
    assert sent.subject == f"Reset your {settings.PORTAL_NAME} password"
    assert "https://portal.coc.example.org/accounts/reset/" in sent.body
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Reply-To"] == "support@coc.example.org"
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@portal.coc.example.org>")
    [(html, kind)] = sent.alternatives
    assert kind == "text/html"
    assert f"This message was sent automatically by {settings.PORTAL_NAME}" in html
    assert 'href="https://portal.coc.example.org/accounts/reset/' in html
    assert "localhost" not in html + sent.body + sent.subject
    # Another request is another message.
    client.post(reverse("password_reset"), {"email": "pat@example.org"}, HTTP_HOST="localhost:8180")
    assert mail.outbox[1].message()["Message-ID"] != parsed["Message-ID"]
