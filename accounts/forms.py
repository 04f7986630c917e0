from django import forms
from django.contrib.auth.forms import AuthenticationForm

from hmis_portal.core.inputs import TextValidationMixin

from .models import Persona


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
