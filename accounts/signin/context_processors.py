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
    warning = rules["warning_minutes"]
    # Written out here, as text: base.html draws them on every page, and the
    # template engine's arithmetic, plural and number formatting were most
    # of the warning's cost.
    return {"IDLE": {"seconds_left": str(seconds_left(request)), "window_seconds": str(rules["idle_minutes"] * 60),
                     "warning_seconds": str(warning * 60),
                     "warning": f"{warning} minute{'' if warning == 1 else 's'}"}}
