"""The portal's own address, as `PORTAL_BASE_URL` gives it: every link, mail
header and calendar UID is built from it, never from a request's Host."""

from urllib.parse import urlsplit

from django.conf import settings


def portal_domain() -> str:
    """The host of PORTAL_BASE_URL: the domain of Message-IDs and calendar UIDs."""
    return urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"


def portal_base() -> str:
    """PORTAL_BASE_URL without a closing "/": what a path is put after, also
    by the sweeps that build their links in SQL."""
    return settings.PORTAL_BASE_URL.rstrip("/")


def portal_url(path: str) -> str:
    """The absolute link to one of the portal's own pages (`path` starts with
    "/"); any other text is returned as it is (already absolute)."""
    return f"{portal_base()}{path}" if path.startswith("/") else path
