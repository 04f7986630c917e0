import sys
import threading
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import connections
from django.http import HttpResponsePermanentRedirect, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import outage
from .errors import message_refusal

def run_action(request, call: Callable, success, *, to: str, refusals=(ValidationError,)) -> HttpResponseRedirect:
    """The shape of a button that posts one change: call the service; a
    refusal (by default a ValidationError: a double submit, someone else
    first, a rule not met) becomes an error message and changes nothing;
    otherwise the success message. Back to `to` (a URL or URL name) either
    way. `success` is the message, or a function of the service's result
    giving the message or a (message level, message) pair."""
    try:
        result = call()
    except refusals as exc:
        message_refusal(request, exc)
    else:
        said = success(result) if callable(success) else success
        level, text = said if isinstance(said, tuple) else (messages.SUCCESS, said)
        if text:
            messages.add_message(request, level, text)
    return redirect(to)


# A monitor must get an answer quickly even when a dependency hangs.
HEALTH_DEADLINE_SECONDS = 1.5
_database_check_running = threading.Lock()


def _database_ok() -> dict:
    """SELECT 1, waited for at most HEALTH_DEADLINE_SECONDS. It runs in its own
    thread (with its own connection) because a frozen database server never
    answers and psycopg has no client-side query timeout. While one such check
    is still stuck, later ones answer "unavailable" at once instead of piling
    up threads."""
    if not _database_check_running.acquire(blocking=False):
        return {"ok": False, "error": "Timeout"}
    outcome = {}

    def check():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1")
            outcome["vendor"] = connections["default"].vendor
        except Exception as exc:  # noqa: BLE001 - report any failure as unhealthy
            outcome["error"] = exc.__class__.__name__
        finally:
            connections.close_all()
            _database_check_running.release()

    thread = threading.Thread(target=check, name="healthz-database", daemon=True)
    thread.start()
    thread.join(HEALTH_DEADLINE_SECONDS)
    if thread.is_alive():
        return {"ok": False, "error": "Timeout"}
    if "error" in outcome:
        return {"ok": False, "error": outcome["error"]}
    return {"ok": True, "vendor": outcome["vendor"]}


def _broker_ok() -> dict:
    """PING the Redis broker once, with no retries and short socket timeouts,
    so a broker that is down or frozen is reported within about a second."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from hmis_portal.celery import app

    timeout = min(settings.BROKER_SOCKET_TIMEOUT, HEALTH_DEADLINE_SECONDS)
    client = redis.Redis.from_url(app.conf.broker_url, socket_timeout=timeout,
                                  socket_connect_timeout=min(settings.BROKER_CONNECT_TIMEOUT, timeout),
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "mode": "redis", "error": exc.__class__.__name__}
    finally:
        client.close()
    return {"ok": True, "mode": "redis"}


@never_cache
@require_GET
def healthz(request):
    """Database and broker reachability, for load balancers and monitors:
    200 when both answer, 503 within about two seconds when either is down or
    frozen."""
    checks = {"database": _database_ok()}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = {"ok": True, "mode": "eager"}
    else:
        checks["broker"] = _broker_ok()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


def page_not_found(request, exception):
    return render(request, "404.html", status=404)


def permission_denied(request, exception):
    message = str(exception) if exception and str(exception) else "You do not have permission to do this."
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request):
    # Django calls this while handling the exception: a database that is
    # down is "temporarily unavailable" (503), anything else the error page.
    exc = sys.exc_info()[1]
    if outage.database_unavailable(exc):
        return outage.unavailable_response(exc)
    return render(request, "500.html", status=500)


def favicon(request):
    """Browsers and feed readers ask for /favicon.ico whatever a page links to."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
