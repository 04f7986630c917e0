"""The database is down: every request is answered "temporarily unavailable"
(503 with Retry-After, which people, the proxy and monitors understand), not
the generic error page, and the log says so once per kind of failure instead
of a traceback per request (a 15-second outage wrote thousands of lines).

Reached from the 500 handler, so a failure anywhere (a view, or a middleware
that loads the session or the user) is covered. The page is rendered without
the request's context: its context processors would ask the database again.
"""

import logging

from django.db.utils import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

from .observability import OncePerWindow

# Seconds a client should wait before trying again. A constant, not policy:
# the policy rows are in the database that is not answering.
RETRY_AFTER_SECONDS = 30
# A kind of failure is logged again after this long, with how many requests
# it failed in between.
LOG_EVERY_SECONDS = 60
MAX_KINDS = 100

log = logging.getLogger(__name__)
_said = OncePerWindow(LOG_EVERY_SECONDS, max_kinds=MAX_KINDS)


def database_unavailable(exc) -> bool:
    """A lost or refused connection, a server shutting down, a query cancelled:
    failures of the database, not of the request."""
    return isinstance(exc, (OperationalError, InterfaceError))


def _kind(exc) -> tuple[str, str]:
    cause = exc.__cause__ or exc
    message = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{exc.__class__.__name__}/{cause.__class__.__name__}", message


def _note(exc) -> None:
    kind, message = _kind(exc)
    since = _said.note(f"{kind}: {message}")
    if since is None:
        return
    more = f" ({since} more requests failed this way since the last line)" if since else ""
    log.error("Database unavailable, answering 503: %s: %s%s", kind, message, more)


def unavailable_response(exc) -> HttpResponse:
    _note(exc)
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    # Django's request logger would add a traceback for this response; the
    # line above is the log.
    response._has_been_logged = True
    return response


def reset() -> None:
    """Forget what was logged (tests)."""
    _said.reset()


def reset_window() -> None:
    """Let every kind be logged again at its next failure (tests)."""
    _said.reset_window()
