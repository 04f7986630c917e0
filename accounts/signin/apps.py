from django.apps import AppConfig


class SignInConfig(AppConfig):
    """How people sign in and how long they stay signed in: the second factor,
    the lockout's key, the idle timeout and the security headers. Shared like
    the core, and its rules (who needs a second factor) are in accounts.access."""

    name = "accounts.signin"
    label = "signin"
    verbose_name = "Sign-in"

    def ready(self):
        from . import receivers

        receivers.connect_device_receivers()
