"""Each key may make settings.API_KEY_REQUESTS_PER_MINUTE requests a minute.

Counted in the cache like the Join page's limit (one counter per key and
minute, `add` then `incr`, so concurrent requests never lose a count); over
the limit the API answers 429 with Retry-After: the seconds left in the
minute. A cache that is down lets requests through rather than taking the
API down with it."""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .models import ApiKey

logger = logging.getLogger(__name__)
WINDOW = 60


class ApiKeyRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        now = time.time()
        window = int(now // WINDOW)
        self.retry_after = WINDOW * (window + 1) - now
        counter = f"api-key-requests:{key.pk}:{window}"
        try:
            cache.add(counter, 0, timeout=WINDOW * 2)
            return cache.incr(counter) <= settings.API_KEY_REQUESTS_PER_MINUTE
        except Exception:  # noqa: BLE001 - the cache down must not take the API down with it
            logger.warning("API rate limit unavailable; request allowed", exc_info=True)
            return True

    def wait(self):
        return max(self.retry_after, 1)
