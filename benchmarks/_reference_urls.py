"""The portal's URLs and the load benchmark's reference page (benchmarks._reference)."""

from django.http import HttpResponse
from django.urls import path

from hmis_portal.urls import handler403, handler404, handler500, urlpatterns as portal  # noqa: F401

PATH = "/benchmark/signed-in/"


def signed_in(request):
    # Every portal page reads the signed-in person first; what a page costs beyond this is its own.
    return HttpResponse(f"signed in: {request.user.pk}", content_type="text/plain")


urlpatterns = [path(PATH.lstrip("/"), signed_in), *portal]
