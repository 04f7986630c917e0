from django import forms
from django.contrib.auth.forms import AuthenticationForm



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
