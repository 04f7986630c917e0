"""What the portal tells operations staff as it runs: its logs and the hook
for error reporting. (Its figures for Prometheus are in `metrics`.)

Logs go through structlog: one JSON object a line in production (DEBUG off),
readable lines in development. Every line written while a request is served
carries its `request_id` (the `X-Request-ID` it came with, when well formed,
else a new one; returned in the response's header), and so do the lines of
the Celery tasks it queues (django-structlog passes the id in the task's
headers). The stdlib loggers (`logging.getLogger(__name__)`) are formatted by
the same processors, so existing code logs as before.

This module is imported by the settings: it imports nothing of Django's
models or apps at import time.
"""

import logging
import re
import sys
import threading
import time
import uuid

import structlog

# --- the request id --------------------------------------------------------------------------------

# What a proxy or load balancer sends as a request id: a UUID, or letters,
# digits and a few separators. Anything else (spaces, line breaks, formatting
# characters, a page of text) would end up in every log line, so it is
# replaced by a new id rather than trusted.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


def request_id_from(value: str | None) -> str:
    """The incoming id when it is well formed, else a new UUID."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return str(uuid.uuid4())


class RequestIdMiddleware:
    """Settles the request's id before django-structlog's RequestMiddleware
    binds it (that one trusts the header as it finds it) and returns it in the
    response's `X-Request-ID`, so a person reporting a problem can quote it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.META["HTTP_X_REQUEST_ID"] = request_id
        # request.headers is read from META once; nothing has read it yet, but
        # a cached copy would keep the malformed value.
        request.__dict__.pop("headers", None)
        request.request_id = request_id
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        # django-structlog has written the outcome ("request_finished", with
        # the status code, at warning for 4xx and error for 5xx) with the
        # request's id; Django's own "Not Found: /…" line would come after the
        # id is unbound, a second line without it.
        response._has_been_logged = True
        return response


def loaded_user_id(request):
    """The signed-in person's id when the request has already loaded them,
    else None: a log line never queries the database (during an outage that
    query would fail again inside the error handling)."""
    user = getattr(request, "user", None)
    if user is None:
        return None
    from django.utils.functional import empty

    if getattr(user, "_wrapped", None) is empty:
        return None
    return getattr(user, "pk", None)


def _bind_loaded_user(sender, request, log_kwargs, **kwargs):
    user_id = loaded_user_id(request)
    if user_id is not None:
        log_kwargs["user_id"] = user_id


def connect_signals() -> None:
    """django-structlog asks for its request lines' extra fields (from CoreConfig.ready)."""
    from django_structlog import signals

    for signal in (signals.bind_extra_request_metadata, signals.bind_extra_request_finished_metadata,
                   signals.bind_extra_request_failed_metadata):
        signal.connect(_bind_loaded_user, dispatch_uid=f"core.observability.user.{id(signal)}")


# --- a database outage -----------------------------------------------------------------------------

# While PostgreSQL is down, every request fails the same way: a traceback each
# (thousands of lines a minute) buries everything else. An error of the
# database's connection is written once per kind of failure and this many
# seconds, as one line without its traceback, saying how many were left out.
OUTAGE_REPEAT_SECONDS = 60


def _exception_of(record: logging.LogRecord) -> BaseException | None:
    exc_info = record.exc_info
    if exc_info is None and isinstance(record.msg, dict):  # a structlog event
        exc_info = record.msg.get("exc_info")
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1]
    return None


def _database_unavailable(exc: BaseException | None) -> BaseException | None:
    """The database failure in `exc` or the exceptions it was raised from."""
    from .outage import database_unavailable

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if database_unavailable(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class OncePerWindow:
    """Say a kind of failure once per window, then how many were left out:
    the memory both the 503 answer (core.outage) and the log filter for any
    other database-connection error (DatabaseOutageFilter) keep."""

    def __init__(self, seconds: float, max_kinds: int = 100):
        self.seconds = seconds
        self.max_kinds = max_kinds
        self._lock = threading.Lock()
        self._kinds: dict = {}  # kind -> [monotonic time last said, times left out since]

    def note(self, kind) -> int | None:
        """None when `kind` was said within the window (counted); else how
        many times it was left out since it was last said."""
        now = time.monotonic()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is not None and now - seen[0] < self.seconds:
                seen[1] += 1
                return None
            if seen is None and len(self._kinds) >= self.max_kinds:
                self._kinds.clear()  # messages that vary without end: keep the memory bounded
            self._kinds[kind] = [now, 0]
        return seen[1] if seen else 0

    def reset(self) -> None:
        with self._lock:
            self._kinds.clear()

    def reset_window(self) -> None:
        with self._lock:
            for seen in self._kinds.values():
                seen[0] = float("-inf")


class DatabaseOutageFilter(logging.Filter):
    """One line per kind of database connection failure and minute, without
    its traceback; every other record passes as it is."""

    def __init__(self, name: str = "", repeat_seconds: float = OUTAGE_REPEAT_SECONDS):
        super().__init__(name)
        self.repeat_seconds = repeat_seconds
        self._said = OncePerWindow(repeat_seconds)

    def filter(self, record: logging.LogRecord) -> bool:
        error = _database_unavailable(_exception_of(record))
        if error is None:
            return True
        first_line = (str(error).strip().splitlines() or [""])[0]
        left_out = self._said.note((record.name, type(error).__name__, first_line))
        if left_out is None:
            return False
        summary = f"{type(error).__name__}: {first_line}"
        if left_out:
            summary += f" (and {left_out} more like it in the last {self.repeat_seconds:.0f} s)"
        if isinstance(record.msg, dict):
            record.msg = {key: value for key, value in record.msg.items() if key not in ("exc_info", "exception")}
            record.msg["error"] = summary
        else:
            record.error = summary
        record.exc_info = None
        record.exc_text = None
        return True


def _error_from_record(_, __, event_dict):
    """A stdlib record's `error` (set by DatabaseOutageFilter) as a field."""
    record = event_dict.get("_record")
    if record is not None and not event_dict.get("_from_structlog") and getattr(record, "error", None):
        event_dict["error"] = record.error
    return event_dict


# --- logging configuration -------------------------------------------------------------------------

# Run on every line, whether it came from structlog or a stdlib logger.
SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog(*, json_lines: bool) -> None:
    """structlog's own loggers hand their events to stdlib logging, where the
    handler's ProcessorFormatter renders them with the stdlib records."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class OutageAnsweredFilter(logging.Filter):
    """Drops the request logger's line for a request the database failed: the
    503 answer (`hmis_portal.core.outage`) writes that outage's one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _database_unavailable(_exception_of(record)) is None


def logging_config(*, json_lines: bool, level: str = "INFO") -> dict:
    """The LOGGING setting: one handler on stderr, JSON lines or readable ones."""
    if json_lines:
        renderers = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderers = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"database_outage": {"()": DatabaseOutageFilter},
                    "outage_answered": {"()": OutageAnsweredFilter}},
        "formatters": {
            "portal": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
                "foreign_pre_chain": [*SHARED_PROCESSORS, _error_from_record],
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "portal", "filters": ["database_outage"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Celery's worker writes through the root handler, not its own.
            "celery": {"level": level},
            "django_structlog.middlewares.request": {"filters": ["outage_answered"]},
        },
    }


# --- error reporting -------------------------------------------------------------------------------

EMAIL_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _scrub(value):
    if isinstance(value, str):
        return EMAIL_ADDRESS.sub("[email]", value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item) for item in value)
    return value


def scrub_event(event, hint):
    """Email addresses (the portal's people, its clients' agencies) never
    leave for the error-reporting service, wherever they appear in an event."""
    return _scrub(event)


def scrub_breadcrumb(crumb, hint):
    return _scrub(crumb)


def init_error_reporting(*, dsn: str, environment: str = "production", release: str | None = None) -> bool:
    """Start sentry-sdk when a DSN is configured; without one nothing is sent
    and nothing is patched. No personal data: no users, cookies, headers or
    bodies (`send_default_pii=False`), and email addresses scrubbed."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=0.0,
    )
    return True
