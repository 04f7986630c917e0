"""The session engine with Redis (settings.SESSION_ENGINE when the cache is
shared): Django's cached_db, sessions read through the cache with the
database behind it, whose copies in the cache name the version of
everything kept (`cached.SCHEMA`) they were written at.

A sign-out while Redis is down or frozen deletes the session in the
database, but its copy in the cache cannot be deleted. When Redis answers
again, the cache bumps the schema's version before anything else is read
(`cache_backend`): a copy of an older version is a miss, so the old cookie
is looked up in the database, finds nothing there, and signs no one in.
The copy and the version are read in one round trip.
"""

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDbSessionStore

from . import cached


class _Versioned:
    """The cache as the session store sees it: each value kept with the
    schema's version, and a value of another version not there."""

    def __init__(self, cache):
        self.cache = cache

    def get(self, key, default=None):
        kept, version = cached.schema_version(with_key=key)
        if isinstance(kept, dict) and kept.get("version") == version:
            return kept["session"]
        return default

    def set(self, key, value, timeout):
        self.cache.set(key, {"version": cached.schema_version(), "session": value}, timeout)

    def delete(self, key):
        return self.cache.delete(key)

    def __contains__(self, key):
        return self.get(key) is not None

    async def aget(self, key, default=None):
        return self.get(key, default)

    async def aset(self, key, value, timeout):
        self.set(key, value, timeout)

    async def adelete(self, key):
        return self.delete(key)


class SessionStore(CachedDbSessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _Versioned(self._cache)
