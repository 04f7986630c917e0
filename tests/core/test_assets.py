"""Pages load only the scripts they use."""

from django.test import Client


def test_pages_load_no_htmx(db):
    html = Client().get("/accounts/login/").content.decode()
    assert "htmx" not in html and "hx-" not in html
    assert "vendor/bootstrap/bootstrap.bundle.min.js" in html
