"""Production guardrails: settings that would silently lose mail, send links
nobody can open, count limits per process, or give a task out twice are
errors of `manage.py check --deploy` (tag "portal"). The compose stack's
one-shot migrate service runs that check first, and every portal service
waits for it, so a stack with such settings never starts. With DEBUG on
(the embedded default) nothing here is refused."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register
from django.http.request import validate_host

# Mail sent to these never leaves the process or the machine.
LOCAL_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
# Caches that count in each process on its own (or not at all).
PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}
# Room for the multipart envelope around the largest upload.
ENVELOPE_BYTES = 64 * 1024


def _loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def base_url_refusal(url: str) -> str:
    """Why links built from this address would reach nobody, or ''."""
    parts = urlsplit(url or "")
    if parts.scheme != "https":
        return "it is not an https:// address"
    if not parts.hostname:
        return "it names no host"
    if _loopback(parts.hostname):
        return "it names this machine, which nobody who reads the mail can reach"
    return ""


def longest_task_time_limit() -> int:
    """The longest hard time limit any registered task runs under."""
    from hmis_portal.celery import app

    app.loader.import_default_modules()
    limits = [settings.CELERY_TASK_TIME_LIMIT or 0]
    limits += [task.time_limit or 0 for name, task in app.tasks.items() if not name.startswith("celery.")]
    limits += [annotation.get("time_limit") or 0 for annotation in settings.CELERY_TASK_ANNOTATIONS.values()]
    return max(limits)


def _uses_redis_broker() -> bool:
    return not settings.CELERY_TASK_ALWAYS_EAGER and str(settings.CELERY_BROKER_URL).startswith(
        ("redis://", "rediss://", "sentinel://"))


@register("portal", deploy=True)
def production_guardrails(app_configs=None, **kwargs):
    errors = []
    if max(settings.LOGIN_REPORT_MAX_BYTES, settings.DOCUMENT_MAX_BYTES,
           settings.HMIS_LOGIN_BATCH_MAX_BYTES) + ENVELOPE_BYTES > settings.REQUEST_MAX_BYTES:
        errors.append(Error(
            "REQUEST_MAX_BYTES is smaller than an upload the portal accepts (LOGIN_REPORT_MAX_BYTES, "
            "DOCUMENT_MAX_BYTES, HMIS_LOGIN_BATCH_MAX_BYTES): the proxy would refuse it.",
            hint="Raise REQUEST_MAX_BYTES (the proxy reads the same variable) or lower the upload limits.",
            id="portal.E005"))
    if settings.DEBUG:
        return errors
    if settings.EMAIL_BACKEND in LOCAL_MAIL_BACKENDS:
        errors.append(Error(
            f"Mail goes to {settings.EMAIL_BACKEND.rsplit('.', 2)[-2]}, not to a mail server: invitations and "
            "password links would never reach anyone.",
            hint="Set EMAIL_URL (or EMAIL_URL_FILE), e.g. smtp+tls://user@smtp.example.org:587 with "
                 "EMAIL_PASSWORD_FILE.",
            id="portal.E001"))
    refusal = base_url_refusal(settings.PORTAL_BASE_URL)
    if refusal:
        errors.append(Error(
            f"PORTAL_BASE_URL ({settings.PORTAL_BASE_URL or 'empty'}) cannot be used for links in mail: {refusal}.",
            hint="Set PORTAL_BASE_URL to the portal's public address, e.g. https://hmis.example.org.",
            id="portal.E002"))
    elif not validate_host(urlsplit(settings.PORTAL_BASE_URL).hostname, settings.ALLOWED_HOSTS):
        errors.append(Error(
            f"PORTAL_BASE_URL ({settings.PORTAL_BASE_URL}) names a host ALLOWED_HOSTS does not list: every link in "
            "mail would be refused with 400.",
            hint="Add the host to ALLOWED_HOSTS, or correct PORTAL_BASE_URL.",
            id="portal.E006"))
    backend = settings.CACHES["default"]["BACKEND"]
    if backend in PER_PROCESS_CACHES and settings.WEB_CONCURRENCY > 1:
        errors.append(Error(
            f"The cache ({backend.rsplit('.', 1)[-1]}) is kept in each process, and WEB_CONCURRENCY starts "
            f"{settings.WEB_CONCURRENCY} of them: the Join page's limit and the API throttle would count once per "
            "process.",
            hint="Set REDIS_URL (the cache then lives in Redis), or run one web process.",
            id="portal.E003"))
    if _uses_redis_broker():
        longest = longest_task_time_limit()
        timeout = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("visibility_timeout")
        if not timeout or timeout <= longest:
            errors.append(Error(
                f"The broker's visibility_timeout ({timeout or 'unset: one hour'}) is not above the longest task "
                f"time limit ({longest} s): a task still running would be given to a second worker, or a killed "
                "worker's task would wait an hour.",
                hint="Leave CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'] to the settings, which compute it "
                     "from the time limits.",
                id="portal.E004"))
    return errors
