"""A page's address without arguments is looked up once per process
(`hmis_portal.core.addresses`), and stays the one `reverse()` gives when the
URL configuration or the script prefix changes; a static file's URL is worked
out once per static files storage, and stays the one Django's tag gives."""

import json
import re

from django.conf import settings
from django.http import HttpResponse
from django.template import Context, Engine, engines
from django.templatetags.static import StaticNode
from django.test import override_settings
from django.urls import path, reverse, set_script_prefix

from hmis_portal.core.addresses import address

urlpatterns = [path("somewhere/else/", lambda request: HttpResponse(), name="home")]


def test_an_address_is_the_one_reverse_gives_and_is_looked_up_once(monkeypatch):
    import django.urls

    assert address("referrals:list") == reverse("referrals:list")
    looked_up = []
    real = django.urls.reverse
    monkeypatch.setattr("hmis_portal.core.addresses.reverse", lambda *a, **k: looked_up.append(a) or real(*a, **k))
    for _ in range(3):
        assert address("referrals:list") == reverse("referrals:list")
    assert looked_up == []


def test_another_url_configuration_or_script_prefix_gets_its_own_address():
    home = address("home")
    with override_settings(ROOT_URLCONF=__name__):
        assert address("home") == reverse("home") == "/somewhere/else/"
    assert address("home") == home == reverse("home")
    set_script_prefix("/portal/")
    try:
        assert address("home") == reverse("home") == "/portal" + home
    finally:
        set_script_prefix("/")
    assert address("home") == home


# A static file's URL is worked out once per static files storage
# (`addresses.static_address`, behind every `{% load static %}`).

MANIFEST_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def _manifest(folder, hashed):
    folder.mkdir(exist_ok=True)
    (folder / "staticfiles.json").write_text(json.dumps({"version": "1.1", "paths": hashed}))
    return {"staticfiles": {"BACKEND": MANIFEST_STORAGE, "OPTIONS": {"location": str(folder)}}}


def _static(name):
    return engines["django"].from_string("{% static name %}").render({"name": name})


def test_in_production_a_static_url_is_the_manifests_hashed_name_and_changes_with_the_manifest(tmp_path):
    first = _manifest(tmp_path / "first", {"portal.css": "portal.1a2b3c.css"})
    second = _manifest(tmp_path / "second", {"portal.css": "portal.4d5e6f.css"})
    with override_settings(DEBUG=False, STORAGES=first):
        assert _static("portal.css") == "/static/portal.1a2b3c.css"
    # collectstatic wrote another manifest: a storage that reads it (a new process) names the new file.
    with override_settings(DEBUG=False, STORAGES=second):
        assert _static("portal.css") == "/static/portal.4d5e6f.css"
        # Django's manifest storage names the plain file with DEBUG on.
        with override_settings(DEBUG=True):
            assert _static("portal.css") == "/static/portal.css"
        assert _static("portal.css") == "/static/portal.4d5e6f.css"
    assert _static("portal.css") == "/static/portal.css"


def test_a_static_url_is_the_one_djangos_tag_gives_and_is_worked_out_once(tmp_path, monkeypatch):
    storages = _manifest(tmp_path, {"portal.css": "portal.1a2b3c.css", "a b.js": "a b.99.js"})
    django_tag = Engine(libraries={"static": "django.templatetags.static"}).from_string(
        "{% load static %}{% static name %}")
    with override_settings(DEBUG=False, STORAGES=storages):
        for name in ("portal.css", "a b.js"):
            assert _static(name) == django_tag.render(Context({"name": name}))
        worked_out = []
        monkeypatch.setattr(StaticNode, "handle_simple", classmethod(lambda cls, path: worked_out.append(path)))
        for _ in range(3):
            assert _static("portal.css") == "/static/portal.1a2b3c.css"
            assert _static("a b.js") == "/static/a b.99.js"
    assert worked_out == []


def test_the_portals_templates_use_the_built_in_static_tag():
    """`{% load static %}` would put Django's tag, which works each URL out on
    every render, in place of the built-in one."""
    loading = [str(path.relative_to(settings.BASE_DIR)) for path in (settings.BASE_DIR / "templates").rglob("*.html")
               if re.search(r"{%\s*load\b[^%]*\bstatic\b", path.read_text())]
    assert loading == []
