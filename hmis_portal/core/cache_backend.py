"""Redis as the cache, where an outage is a miss and not an error page.

With REDIS_URL set, sessions (`sessions`), what every page of a person reads
(`cached`), the API keys' rate counters and the provisioning slots go through
the cache. Django's RedisCache raises on a Redis that is down or frozen, which
would make every page a 500, and each call would wait its socket timeout. Here
a failure marks Redis down for `SKIP_SECONDS`: meanwhile every read is a miss
(sessions and pages read the database, as without a cache), every write is
skipped, and nothing waits. When Redis answers again, everything kept before
the outage is read afresh (`cached.forget_everything`, before the first call
that works reads anything): a change made while the cache could not be told
must not be hidden by an older copy, nor a session ended meanwhile go on
(`sessions`).
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

SKIP_SECONDS = 30.0
_state = {"down_until": 0.0, "was_down": False}


def _guarded(default):
    """`default(args, kwargs)` is what the call gives while Redis is down."""
    def wrap(method):
        def call(self, *args, **kwargs):
            if time.monotonic() < _state["down_until"]:
                return default(args, kwargs)
            if _state["was_down"]:
                # Before this call reads anything: a session ended during the
                # outage must not be read from its old copy even once.
                _state["was_down"] = False
                _recovered()
                if _state["was_down"]:  # Redis failed again
                    return default(args, kwargs)
            try:
                return method(self, *args, **kwargs)
            except (RedisError, OSError) as error:
                if not _state["was_down"]:
                    log.warning("Cache unreachable (%s): pages read the database for %d s", error, SKIP_SECONDS)
                _state.update(down_until=time.monotonic() + SKIP_SECONDS, was_down=True)
                return default(args, kwargs)
        return call
    return wrap


def _recovered() -> None:
    """Nothing kept before the outage is read (a failure of the guarded
    calls it makes marks Redis down again)."""
    from .cached import forget_everything

    forget_everything()


def reset() -> None:
    """Forget a recorded outage (tests)."""
    _state.update(down_until=0.0, was_down=False)


def _value(value):
    return lambda args, kwargs: value() if callable(value) else value


def _callers_default(args, kwargs):
    """get()'s own `default`: a miss, as the caller asked it to be told."""
    return kwargs.get("default", args[1] if len(args) > 1 else None)


class _OneClientPerPool(RedisCacheClient):
    """Django's client with one redis-py client per connection pool, kept:
    Django builds a new one for every call, and building one (its table of
    command callbacks) costs more Python than the call it makes, on every
    request (the session, the versions of what the page keeps). A redis-py
    client is safe to share between threads and holds no connection of its
    own: its pool does, as before."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _OneClientPerPool

    @_guarded(default=_callers_default)
    def get(self, key, default=None, version=None):
        return super().get(key, default, version)

    @_guarded(default=_value(dict))
    def get_many(self, keys, version=None):
        return super().get_many(keys, version)

    @_guarded(default=_value(False))
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().add(key, value, timeout, version)

    @_guarded(default=_value(None))
    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set(key, value, timeout, version)

    @_guarded(default=_value(list))
    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set_many(data, timeout, version)

    @_guarded(default=_value(False))
    def delete(self, key, version=None):
        return super().delete(key, version)

    @_guarded(default=_value(None))
    def delete_many(self, keys, version=None):
        return super().delete_many(keys, version)

    @_guarded(default=_value(False))
    def has_key(self, key, version=None):
        return super().has_key(key, version)

    @_guarded(default=_value(False))
    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return super().touch(key, timeout, version)

    # A rate counter that cannot count lets the request through (`incr` of a
    # key that is not there still raises ValueError, as Django's does).
    @_guarded(default=_value(0))
    def incr(self, key, delta=1, version=None):
        return super().incr(key, delta, version)
