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
    settings.SESSION_ENGINE = "hmis_portal.core.sessions"  # as in production with Redis
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


def test_a_session_signed_out_while_redis_is_frozen_stays_signed_out(client, organization, own_redis_cache, settings):
    """Signing out deletes the session from the database, but the cache's
    copy could not be deleted: when Redis answers again, that copy must not
    sign anyone in with the old cookie (a shared computer, a stolen cookie)."""
    from django.test import Client

    person = MembershipFactory(organization=organization, persona="staff").user
    client.force_login(person)
    assert client.get(reverse("home")).status_code == 200  # the session is in Redis too
    old_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    own_redis_cache.freeze()
    try:
        assert client.post(reverse("logout")).status_code == 302
    finally:
        own_redis_cache.thaw()
    cache_backend._state["down_until"] = 0.0  # the window in which Redis is skipped has passed

    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = old_cookie
    for _ in range(2):  # the first request after the outage, and one after it
        response = other.get(reverse("home"))
        assert response.status_code == 302 and reverse("login") in response["Location"]
    # Signing in again works, and the new session is read through Redis.
    client.force_login(person)
    assert client.get(reverse("home")).status_code == 200


def test_cache_calls_reuse_one_redis_client(own_redis_cache, monkeypatch):
    """redis-py's client is safe to share and costs more to build (its table
    of command callbacks) than a call costs; Django builds one per call."""
    import redis

    built = []
    real = redis.Redis.__init__
    monkeypatch.setattr(redis.Redis, "__init__", lambda self, *a, **k: built.append(1) or real(self, *a, **k))
    cache.set("kept", 1)
    for _ in range(3):
        assert cache.get("kept") == 1
        assert cache.get_many(["kept", "absent"]) == {"kept": 1}
    assert len(built) <= 1
    # After an outage the same client reaches Redis again through its pool.
    own_redis_cache.stop()
    assert cache.get("kept") is None
    own_redis_cache.start()
    cache_backend._state.update(down_until=0.0)
    cache.set("kept", 2)
    assert cache.get("kept") == 2
    assert len(built) <= 1
