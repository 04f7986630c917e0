"""The load benchmark's reference page: the portal's settings and URLs with one
URL more, a view behind the whole middleware stack that reads the signed-in
person and does nothing else. Served only by the benchmark
(DJANGO_SETTINGS_MODULE=benchmarks._reference), never by the portal."""

from hmis_portal.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks._reference_urls"
