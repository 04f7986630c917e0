import time

from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db.models.signals import post_delete
from django.dispatch import receiver


@receiver(user_logged_in, dispatch_uid="signin-session-clock")
def start_session_clock(sender, request, user, **kwargs):
    """A session's age counts from the password sign-in."""
    # Here, not at the top: the middleware brings the identity provider's
    # clients (jwt, requests), which a command or a worker never needs.
    from .middleware import SIGNED_IN_AT, record_activity

    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        record_activity(request, now, user)


@receiver(post_delete, sender=Session, dispatch_uid="signin-session-ended")
def forget_ended_session(sender, instance, **kwargs):
    """Sessions are read through the cache (settings.SESSION_ENGINE): one
    ended in the database (removed by staff, by `clearsessions`, by a
    sign-out elsewhere) must not go on in the cache."""
    cache.delete(KEY_PREFIX + instance.session_key)


def forget_device(sender, instance, **kwargs):
    """A device saved or deleted (removed, unconfirmed, moved, a code used):
    the next request reads it afresh, so a removed or disabled authenticator
    stops verifying sessions at once (middleware.VerifiedDeviceMiddleware)."""
    from hmis_portal.core import cached

    from .middleware import device_cache_name

    cached.changed(device_cache_name(instance.persistent_id))


def connect_device_receivers():
    """Each kind of django-otp device, by its model (a receiver for every
    model would cost every other model its fast delete)."""
    from django.apps import apps
    from django.db.models.signals import post_save
    from django_otp.models import Device

    for model in apps.get_models():
        if issubclass(model, Device):
            post_save.connect(forget_device, sender=model, dispatch_uid=f"signin-device-saved-{model._meta.label}")
            post_delete.connect(forget_device, sender=model,
                                dispatch_uid=f"signin-device-deleted-{model._meta.label}")
