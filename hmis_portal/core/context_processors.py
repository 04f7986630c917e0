import secrets

from django.conf import settings
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
from django.utils.functional import SimpleLazyObject

_CHARS = CSRF_ALLOWED_CHARS
_INDEX = {char: index for index, char in enumerate(_CHARS)}
_BASE = len(_CHARS)
_SPAN = _BASE**CSRF_SECRET_LENGTH


def _random_string() -> str:
    """CSRF_SECRET_LENGTH characters of CSRF_ALLOWED_CHARS, each uniformly
    random and independent, as Django's `get_random_string` draws them, from
    one number the OS's random source draws rather than one per character."""
    number = secrets.randbelow(_SPAN)
    digits = []
    for _ in range(CSRF_SECRET_LENGTH):
        number, digit = divmod(number, _BASE)
        digits.append(_CHARS[digit])
    return "".join(digits)


def csrf_token(request) -> str:
    """`django.middleware.csrf.get_token`: the request's CSRF secret (a new one,
    sent as the cookie, when it has none) masked anew, so that no two pages
    carry the same token (BREACH). The same token, drawn with two random
    numbers instead of sixty-four: every signed-in page carries one (the
    sign-out form), and the characters one by one were as much work as the
    rest of a small page's menu."""
    meta = request.META
    secret = meta.get("CSRF_COOKIE")
    if secret is None:
        secret = meta["CSRF_COOKIE"] = _random_string()
    # Sent again even when the browser has it, which renews its expiry (as Django does).
    meta["CSRF_COOKIE_NEEDS_UPDATE"] = True
    mask = _random_string()
    return mask + "".join([_CHARS[(_INDEX[s] + _INDEX[m]) % _BASE] for s, m in zip(secret, mask)])


def portal(request):
    # `csrf_token` in place of the one Django's own context processor gives: the same token, cheaper.
    return {"PORTAL_NAME": settings.PORTAL_NAME, "csrf_token": SimpleLazyObject(lambda: csrf_token(request))}
