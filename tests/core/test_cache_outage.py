"""Redis is the cache in production (sessions, what every page of a person
reads, rate counters): a Redis that is down or frozen is a miss, not an error
page, and nothing waits on it; when it answers again, nothing kept before the
outage is read (a change made meanwhile could not bump its version)."""

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from hmis_portal.core import cache_backend, cached
from tests.faults import OwnRedis
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_redis_cache(settings):
    redis = OwnRedis().start()
    settings.CACHES = {"default": {"BACKEND": "hmis_portal.core.cache_backend.ResilientRedisCache",
                                   "LOCATION": redis.url,
                                   "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.SHARED_CACHE = True
    cache_backend.reset()
    yield redis
    redis.stop()
    cache_backend.reset()


def test_pages_answer_from_the_database_while_redis_is_down(client, organization, own_redis_cache):
    person = MembershipFactory(organization=organization, persona="program_manager").user
    client.force_login(person)
    assert client.get(reverse("home")).status_code == 200
    own_redis_cache.stop()
    started = time.monotonic()
    for _ in range(5):
        assert client.get(reverse("home")).status_code == 200
    # One failed call marks Redis down; the rest do not wait on it.
    assert time.monotonic() - started < 5
    # Signing in anew works too: the session is written to the database.
    client.logout()
    client.force_login(person)
    assert client.get(reverse("home")).status_code == 200


def test_pages_answer_while_redis_is_frozen(client, organization, own_redis_cache):
    person = MembershipFactory(organization=organization, persona="staff").user
    client.force_login(person)
    assert client.get(reverse("home")).status_code == 200
    own_redis_cache.freeze()
    try:
        started = time.monotonic()
        for _ in range(5):
            assert client.get(reverse("home")).status_code == 200
        # The first call waits its socket timeout; the others skip the cache.
        assert time.monotonic() - started < 8
    finally:
        own_redis_cache.thaw()


def test_after_an_outage_nothing_kept_before_it_is_read(own_redis_cache):
    cache.set(cached._version_key(cached.SCHEMA), "before", None)
    cache_backend._state.update(down_until=0.0, was_down=True)  # as after a failed call, the window past
    assert cache.get("anything") is None  # the first call that works ...
    assert cache.get(cached._version_key(cached.SCHEMA)) not in (None, "before")  # ... bumps the schema
