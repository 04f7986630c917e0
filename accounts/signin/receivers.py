import time

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .middleware import SIGNED_IN_AT, record_activity


@receiver(user_logged_in, dispatch_uid="signin-session-clock")
def start_session_clock(sender, request, user, **kwargs):
    """A session's age counts from the password sign-in."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        record_activity(request, now, user)
