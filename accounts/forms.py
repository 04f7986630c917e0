import logging
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.template.loader import render_to_string
from django.urls import reverse

from hmis_portal.core.inputs import TextValidationMixin
from hmis_portal.core.site import portal_url

from .models import Persona

log = logging.getLogger(__name__)


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in with an email address. The error never says which of the two
    was wrong."""

    username = forms.EmailField(
        label="Email address", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email address and password do not match an active account. Check both and try again.",
    }


class PortalPasswordResetForm(TextValidationMixin, PasswordResetForm):
    """The reset mail's link and subject come from PORTAL_BASE_URL and
    PORTAL_NAME, never from the Host the request named (which a proxy, a test
    port or an attacker chooses). It is built as every portal mail is
    (`outbox.portal_mail`) but sent at once, not through the outbox: its link
    signs a person in, and must not wait in a table staff can read."""

    def save(self, **kwargs):
        base = urlsplit(settings.PORTAL_BASE_URL)
        kwargs.update(domain_override=base.netloc, use_https=base.scheme == "https",
                      extra_email_context={**(kwargs.get("extra_email_context") or {}),
                                           "site_name": settings.PORTAL_NAME})
        return super().save(**kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None):
        from hmis_portal.core import outbox
        from hmis_portal.core.models import MailPolicy

        link = portal_url(reverse("password_reset_confirm", kwargs={"uidb64": context["uid"],
                                                                    "token": context["token"]}))
        # The subject template ends with a line break, as Django's own does.
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        mail = outbox.portal_mail(
            subject=subject, body=render_to_string(email_template_name, context), to=to_email, link=link,
            message_id=outbox.new_message_id(),
            # Passwords and accounts are the support team's (mail policy).
            reply_to=MailPolicy.current().inbox("support"))
        try:
            mail.send()
        except Exception:  # noqa: BLE001 - as Django's own form: the page never says whether the address exists
            log.exception("Failed to send password reset email to %s", context["user"].pk)


class InvitationForm(TextValidationMixin, forms.Form):
    """Invite someone to an agency; the personas offered are those the inviter may invite."""

    full_name = forms.CharField(label="Name", max_length=150, required=False)
    email = forms.EmailField(label="Email address", max_length=254)
    persona = forms.ChoiceField(label="Role at the agency")

    def __init__(self, *args, personas=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["persona"].choices = [(p, Persona(p).label) for p in personas]


class InvitationAcceptForm(TextValidationMixin, forms.Form):
    full_name = forms.CharField(label="Your name", max_length=150)
    password1 = forms.CharField(label="Choose a password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="The password again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        return data


class WebhookSubscriptionForm(TextValidationMixin, forms.Form):
    """A new webhook subscription: where to send, and which events."""

    url = forms.CharField(label="Receiver URL", max_length=500,
                          help_text="An https:// address of the other system that receives the events.",
                          widget=forms.URLInput(attrs={"autocomplete": "off"}))
    description = forms.CharField(label="Description", max_length=200, required=False,
                                  help_text="What the other system is, for the people who look after it.")
    event_types = forms.MultipleChoiceField(label="Events", widget=forms.CheckboxSelectMultiple, choices=())

    def __init__(self, *args, **kwargs):
        from hmis_portal.core.webhooks import EVENTS

        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(name, f"{words} ({name})") for name, words in EVENTS.items()]


class OwnApiKeyForm(TextValidationMixin, forms.Form):
    """A read key of one's own: a name saying what it is for, and the form's
    one-time token (a second submit of the same form makes no second key)."""

    name = forms.CharField(label="What the key is for", max_length=100,
                           help_text="For example “Agency dashboard”. The key reads what you may see in the portal.")
    once = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        import uuid

        super().__init__(*args, **kwargs)
        self.fields["once"].initial = uuid.uuid4().hex
