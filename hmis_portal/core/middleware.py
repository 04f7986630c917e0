"""Two answers given before the rest of the stack reads the request."""

from django.conf import settings
from django.http import HttpResponse

from . import views


class HealthProbeMiddleware:
    """/healthz answers whatever Host the request names. A container's probe
    asks 127.0.0.1 or localhost, which ALLOWED_HOSTS rightly does not list;
    the answer (database and broker reachability) holds no link, cookie or
    anything else built from the Host, so the host check protects nothing
    here. Every other path still goes through CommonMiddleware's host check."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            return views.healthz(request)
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """A body larger than REQUEST_MAX_BYTES (the number the proxy in front
    reads too) is refused with 413 before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_MAX_BYTES:
            return HttpResponse("The request is larger than the portal accepts.\n", status=413,
                                content_type="text/plain; charset=utf-8")
        return self.get_response(request)
