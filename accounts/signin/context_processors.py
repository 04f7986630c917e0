from . import oidc
from .middleware import RULES, seconds_left


def sign_in(request):
    """The idle-timeout warning's numbers for base.html (signed-in people
    only); for others, the CoC's identity provider's name when sign-in through
    it is set up (the sign-in page's button)."""
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if not (user and user.is_authenticated):
        return {"SIGN_IN_PROVIDER": oidc.provider_name() if oidc.enabled() else ""}
    if not (session is not None and RULES in session):
        return {}
    rules = session[RULES]
    return {"IDLE": {"seconds_left": seconds_left(request), "idle_minutes": rules["idle_minutes"],
                     "warning_minutes": rules["warning_minutes"]}}
