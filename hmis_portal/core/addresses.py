"""The address of a page without arguments, or of a static file, looked up once.

`reverse()` walks the URL patterns on every call, and a menu of links pays
it per link per request (a referrals page's own menu was nine of them).
The answer depends only on the URL configuration and the script prefix,
so it is kept per pair: a test that swaps the URL configuration
(`override_settings(ROOT_URLCONF=…)`, which clears Django's resolver cache)
gets a new resolver, and so a new key."""

from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.core.files.storage import storages
from django.templatetags.static import StaticNode
from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse

_known: dict = {}
MOST = 512  # answers a per-process memo keeps (names × configurations); past it, start again rather than grow


def kept(memo: dict, key, make):
    """`memo[key]`, made by `make()` the first time: a per-process memo of
    answers that never change for their key, bounded by MOST."""
    found = memo.get(key)
    if found is None:
        if len(memo) >= MOST:
            memo.clear()
        found = memo[key] = make()
    return found


def configuration(*, current_app: str | None = None) -> tuple:
    """What an address depends on besides its name and arguments: the URL
    configuration, the script prefix and the admin's namespace."""
    return (get_resolver(get_urlconf()), get_script_prefix(), current_app)


def address(name: str, *args, current_app: str | None = None) -> str:
    """`reverse(name, args=args)` (`current_app`: the admin site's namespace,
    as `{% url %}` passes it). With arguments, for a page whose address is the
    same on every request (an agency's pages, by its slug): a memo of one
    entry per agency, bounded like the rest."""
    return kept(_known, (*configuration(current_app=current_app), name, *args),
                lambda: reverse(name, args=args or None, current_app=current_app))


def static_address(path: str) -> str:
    """`{% static path %}`'s URL, worked out once per static files storage.

    Under the manifest storage (production) the URL is the file's hashed
    name, read from the manifest when the storage is made, so it cannot
    change for the storage's life: keying by the storage object means a new
    manifest, read by a new storage (a new process after collectstatic, a
    test's `override_settings(STORAGES=…)`, which makes Django start a new
    one), gives its own names. DEBUG is in the key because the manifest
    storage answers the plain name with DEBUG on."""
    return kept(_known, (storages[STATICFILES_STORAGE_ALIAS], settings.DEBUG, path),
                lambda: StaticNode.handle_simple(path))
