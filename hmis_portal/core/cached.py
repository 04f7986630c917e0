"""What every page of a person reads, read once per request and kept in the
cache between requests, with explicit invalidation on change.

Each thing is named ("policy:hmis_access.AccessPolicy", "holidays",
"person:42"). Within a web request (`RequestMemoMiddleware`) `read(name, load)`
returns the value the request already read, else the cache's copy at the
name's current version, else `load()`'s result, which it keeps. Whatever
changes the thing calls `changed(name)` (the policy rows' save, the holidays'
and memberships' signals): that bumps the name's version, so every process
finds nothing at the new version and loads again. Outside a request (tasks,
sweeps, commands, the shell) `read` is `load()`: a run reads what it needs
once itself, and never waits on a version a web process bumped; a command
that calls many services, each reading the same rows (seed_demo), keeps its
own copies for the run (`for_one_run`), forgotten as a request's are.

Versions, not deletes: a request that loaded the old value just before a
change commits stores it under the old version, where nobody looks again.
A change made inside a transaction bumps the version at once and again when
the transaction commits; until then this connection neither stores nor reads
the cache for that name (were the transaction rolled back, the cache would
hold rows that never were).

The cache is shared between processes only with Redis (REDIS_URL); without it
each process has its own (locmem) and one process could not tell another of a
change, so `settings.SHARED_CACHE` off keeps the per-request memo and nothing
between requests. Tests run in one process, with the cache emptied before each.
"""

import hashlib
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction

_memo: ContextVar[dict | None] = ContextVar("portal_request_memo", default=None)
# A run's own copies (`for_one_run`): name -> (value, the names it depends on).
_run: ContextVar[dict | None] = ContextVar("portal_run_memo", default=None)
_MISSING = object()
_VERSIONS = object()  # the memo's own entry: the versions the request read
_LEAD = object()  # the memo's own entry: the hash of the key read with the schema's version (`_riders`)
PREFIX = "portal:"
# Every name depends on it: a migration bumps it (core.apps), so nothing kept
# by the code before a deployment is read by the code after it.
SCHEMA = "schema"


def _version_key(name: str) -> str:
    return f"{PREFIX}v:{name}"


def _in_transaction() -> bool:
    """Inside a transaction the code opened. The block a test case wraps each
    test in (Django's TestCase, pytest-django's `db`) stands for autocommit:
    it is never committed, and the test's own changes are as good as made."""
    return any(not getattr(block, "_from_testcase", False) for block in connections[DEFAULT_DB_ALIAS].atomic_blocks)


def _dirty() -> set:
    """Names this connection changed in its open transaction."""
    # On this thread's connection itself (django.db.connection is a proxy shared by all threads).
    names = connections[DEFAULT_DB_ALIAS].__dict__.setdefault("_portal_changed", set())
    if names and not _in_transaction():
        names.clear()
    return names


def _bump(names) -> None:
    cache.set_many({_version_key(name): uuid.uuid4().hex for name in names}, None)


def schema_version(*, with_key: str | None = None):
    """The current version of everything kept (the schema's), read once per
    request like the versions `read` asks; a fresh token, matching nothing
    kept, when the cache cannot give it. With `with_key`, (that key's value
    or None, the version), read in the same round trip."""
    key = _version_key(SCHEMA)
    memo = _memo.get()
    known = memo.setdefault(_VERSIONS, {}) if memo is not None else {}
    value = None
    if key not in known or with_key is not None:
        # With it, the versions of everything else this process has seen
        # requests read (as `read` does): the page's reads then need no round
        # trip of their own.
        others = [other for other in _shared_names.keys() if other not in known and other != key]
        if with_key is not None and memo is not None:
            # And those of the person's own names that the last request with
            # this key (their session) read: their standing is then known too.
            memo[_LEAD] = hash(with_key)
            others += [other for other in _riders.get(memo[_LEAD]) if other not in known and other not in others]
        wanted = [key, *others] if key not in known else others
        found = cache.get_many([*wanted, with_key] if with_key is not None else wanted)
        value = found.pop(with_key, None) if with_key is not None else None
        known.update({other: version for other, version in found.items() if other != key})
        if key not in known:
            version = found.get(key)
            if version is None:
                # add(): two processes starting the version at once agree on one.
                cache.add(key, uuid.uuid4().hex, None)
                version = cache.get(key)
            if version is not None:
                known[key] = version
    version = known.get(key) or uuid.uuid4().hex
    return version if with_key is None else (value, version)


def forget_everything() -> None:
    """Nothing kept before now is read again (after a migration, or a cache
    outage during which changes could not bump their versions)."""
    if settings.SHARED_CACHE:
        _bump([SCHEMA])


def changed(*names: str) -> None:
    """Call after a change to each of `names`: the next read loads it again."""
    if not names:
        return
    run = _run.get()
    if run is not None:
        gone = set(names)
        for name in [name for name, (_, depends) in run.items() if depends & gone]:
            del run[name]
    memo = _memo.get()
    if memo is not None:
        parts = tuple(f"{name}#" for name in names)  # and every part of each (`read`)
        for key in [key for key in memo if isinstance(key, str) and (key in names or key.startswith(parts))]:
            del memo[key]
        memo.pop(_VERSIONS, None)
    if not settings.SHARED_CACHE:
        return
    _bump(names)
    if _in_transaction():
        _dirty().update(names)
        transaction.on_commit(lambda: _bump(names))


class _ProcessCopies:
    """This process's own copies of kept values, by data key (the name at its
    versions), pickled so that each request gets objects of its own, as from
    the cache, and at most `size` of them (the least recently read go first).
    A copy is read only under the versions the request has just read from the
    shared cache, so a change any process makes is seen as soon as without
    it; and, should an invalidation ever be missed, it lives no longer than
    PER_REQUEST_CACHE_SECONDS either."""

    def __init__(self, size: int):
        self.size = size
        self._copies: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str):
        with self._lock:
            kept = self._copies.get(key)
            if kept is None:
                return _MISSING
            if kept[0] <= time.monotonic():
                del self._copies[key]
                return _MISSING
            self._copies.move_to_end(key)
        return pickle.loads(kept[1])

    def put(self, key: str, value) -> None:
        copy = (time.monotonic() + settings.PER_REQUEST_CACHE_SECONDS, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        with self._lock:
            self._copies[key] = copy
            self._copies.move_to_end(key)
            while len(self._copies) > self.size:
                self._copies.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._copies.clear()


_copies = _ProcessCopies(size=2000)


class _SharedNames:
    """The names of what every person's pages read (policy rows, holidays,
    the schema…) that this process has read: a request asks the versions of
    all of them with the first it needs, in one round trip, so each later read
    in the request finds its version known and its value in `_copies`."""

    def __init__(self, size: int):
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()  # a threaded server's requests share it

    def add(self, keys) -> None:
        with self._lock:
            for key in keys:
                if key not in self._keys:
                    self._keys[key] = None
                    while len(self._keys) > self.size:
                        self._keys.popitem(last=False)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._keys)


_shared_names = _SharedNames(size=64)


class _Riders:
    """The version keys of one person's own names (`read(per_person=True)`,
    their standing) that a request read after the key it read first with
    the schema's version (`schema_version(with_key=...)`: the session), by
    that key's hash: the next request of the same session asks them with
    it, in the same round trip, rather than in one of their own. A version
    read early is as good as one read later in the request (every version
    is read once per request); a hash that collides only asks a version
    more. The least recently read go first past `size`."""

    def __init__(self, size: int):
        self.size = size
        self._keys: OrderedDict[int, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, lead: int) -> tuple[str, ...]:
        with self._lock:
            return self._keys.get(lead, ())

    def add(self, lead: int, keys) -> None:
        with self._lock:
            known = self._keys.get(lead, ())
            self._keys[lead] = known + tuple(key for key in keys if key not in known)
            self._keys.move_to_end(lead)
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)


_riders = _Riders(size=10_000)


def _part_key(name: str, part: str) -> str:
    return f"{name}#{part}" if part else name


def read(name: str, load, *, depends: tuple[str, ...] = (), per_person: bool = False, part: str = ""):
    """`load()`'s value, read once per request and kept in the cache at the
    current version of `name` (and of the names in `depends`). `per_person`:
    the name is one person's (their standing), so other people's requests do
    not ask its version. `part`: one of the name's values (a page of a list,
    a day), kept and forgotten with the name's version, not a version of
    its own."""
    memo = _memo.get()
    if memo is None:
        run = _run.get()
        if run is None:
            return load()
        kept = run.get(_part_key(name, part))
        if kept is None:
            kept = run[_part_key(name, part)] = (load(), frozenset((name, *depends, SCHEMA)))
        return kept[0]
    value = memo.get(_part_key(name, part), _MISSING)
    if value is not _MISSING:
        return value
    names = (name, *depends, SCHEMA)
    if not settings.SHARED_CACHE or _dirty().intersection(names):
        value = memo[_part_key(name, part)] = load()
        return value
    version_keys = [_version_key(n) for n in names]
    # The versions this request already read (every name depends on the
    # schema's, the standings on the people's): one round trip fewer each.
    known = memo.setdefault(_VERSIONS, {})
    unread = [key for key in version_keys if key not in known]
    if unread:
        # With them, those of everything else this process has seen requests
        # read: the request's later reads then need no round trip of their own.
        others = [key for key in _shared_names.keys() if key not in known and key not in unread]
        versions = cache.get_many(unread + others)
        missing = {key: uuid.uuid4().hex for key in unread if key not in versions}
        if missing:
            # add(): two processes starting a version at once agree on one.
            for key, token in missing.items():
                cache.add(key, token, None)
            versions.update(cache.get_many(list(missing)))
        known.update(versions)
    everyone = version_keys[1:] if per_person else version_keys
    _shared_names.add(key for key in everyone if key in known)
    if per_person and unread and _LEAD in memo:
        _riders.add(memo[_LEAD], [version_keys[0]])
    # A version the cache could not give (Redis down) names no copy anyone may trust.
    trusted = all(key in known for key in version_keys)
    # The versions hashed: a name that depends on many keeps a key of one length.
    data_key = f"{PREFIX}{_part_key(name, part)}@" + hashlib.blake2b(
        ".".join(known.get(key, "") for key in version_keys).encode(), digest_size=16).hexdigest()
    value = _copies.get(data_key) if trusted else _MISSING
    if value is _MISSING:
        value = cache.get(data_key, _MISSING)
        if value is _MISSING:
            value = load()
            cache.set(data_key, value, settings.PER_REQUEST_CACHE_SECONDS)
        if trusted:
            _copies.put(data_key, value)
    memo[_part_key(name, part)] = value
    return value


def in_request() -> bool:
    return _memo.get() is not None


def kept_for_reuse() -> bool:
    """Whether a value `read` returns may be returned again to another caller
    (within a request, or a run): a caller that changes it must change a copy."""
    return _memo.get() is not None or _run.get() is not None


@contextmanager
def for_one_run():
    """Within it, outside a request, each thing is loaded once and read again
    only after a change to it (or to a name it depends on) calls `changed`:
    for a command that makes many changes through the services, each of which
    reads the policy rows, the holidays, the training tables (seed_demo). This
    process's own copies, never the shared cache's, so the run sees no version
    a web process bumps meanwhile; use it for a run that commits or fails as one."""
    token = _run.set({})
    try:
        yield
    finally:
        _run.reset(token)


class RequestMemoMiddleware:
    """Opens the request's memo (first in the chain, before anything reads)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _memo.set({})
        try:
            return self.get_response(request)
        finally:
            _memo.reset(token)
