"""What django-axes counts failed sign-ins against: the person and the real
client address (settings AXES_USERNAME_CALLABLE, AXES_CLIENT_IP_CALLABLE)."""

from django.conf import settings
from python_ipware import IpWare


def username(request, credentials) -> str:
    """Sign-in ignores case and surrounding spaces in the email address, so the
    lockout must too: otherwise NAME@ gets five fresh tries after name@."""
    typed = (credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD)
    if typed is None:
        typed = request.POST.get(settings.AXES_USERNAME_FORM_FIELD, "")
    return str(typed).strip().lower()


def client_ip(request) -> str | None:
    """The address of the person signing in.

    With no proxy in front (TRUSTED_PROXY_COUNT=0) it is the connection's
    address, and X-Forwarded-For, which anyone can send, is ignored. Behind
    N proxies of our own, each appends the address it received the request
    from, so only the last N entries of X-Forwarded-For are theirs: the client
    is the first of those, and anything to its left is whatever the client
    claimed. A chain shorter than N did not come through our proxies; the
    connection's address is used then.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(hops) < count:
        return remote
    # django-ipware's engine checks each address and the chain's length: the
    # last `count` entries are the client and the count-1 proxies before ours.
    ipware = IpWare(precedence=("HTTP_X_FORWARDED_FOR",), proxy_count=count - 1)
    ip, _ = ipware.get_client_ip({"HTTP_X_FORWARDED_FOR": ", ".join(hops[-count:])}, strict=True)
    return str(ip) if ip else remote
