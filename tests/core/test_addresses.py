"""A page's address without arguments is looked up once per process
(`hmis_portal.core.addresses`), and stays the one `reverse()` gives when the
URL configuration or the script prefix changes."""

from django.http import HttpResponse
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
