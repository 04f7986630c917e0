from django.apps import AppConfig


class SignInConfig(AppConfig):
    """How people sign in and how long they stay signed in: the second factor,
    the lockout's key, the idle timeout and the security headers. Shared like
    the core: it uses no app of the CoC's process."""

    name = "hmis_portal.signin"
    label = "signin"
    verbose_name = "Sign-in"

    def ready(self):
        from . import receivers  # noqa: F401
