"""Every page forbids inline script and framing, switches off device features,
and nothing a signed-in person sees is kept in a cache."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import StaffFactory
from tests.referrals.view_cases import _referral

pytestmark = pytest.mark.django_db
REQUIRED_CSP = ("default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "img-src 'self' data:",
                "object-src 'none'", "base-uri 'self'")


def assert_strict_headers(response):
    csp = response["Content-Security-Policy"]
    for directive in REQUIRED_CSP:
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy


def test_the_login_page_has_the_policy_headers(client):
    assert_strict_headers(client.get(reverse("login")))


def test_a_portal_page_has_the_policy_headers_and_is_not_stored(client):
    client.force_login(StaffFactory())
    response = client.get(reverse("home"))
    assert_strict_headers(response)
    assert "no-store" in response["Cache-Control"]


def test_a_referral_is_not_stored(client, organization):
    client.force_login(StaffFactory(groups=["CES team"]))
    response = client.get(reverse("referrals:detail", kwargs=_referral(organization)))
    assert response.status_code == 200
    assert_strict_headers(response)
    assert "no-store" in response["Cache-Control"]


def test_the_referral_export_and_a_signed_form_are_not_stored(client):
    from tests.training.view_cases import _form_submission
    from tests.factories import OrganizationFactory

    client.force_login(StaffFactory(groups=["CES team", "CoC training", "CoC implementation"]))
    assert "no-store" in client.get(reverse("referrals:export"))["Cache-Control"]
    document = client.get(reverse("training:form-document", kwargs=_form_submission(OrganizationFactory())))
    assert document.status_code == 200 and "no-store" in document["Cache-Control"]


def test_templates_have_no_inline_script_handlers_or_styles():
    import re
    from pathlib import Path

    offending = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        if "email" in template.parent.parts:
            continue  # mail, not a page: no CSP applies, and mail clients drop style sheets
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text) \
                or re.search(r"\son[a-z]+\s*=", text) or re.search(r"\sstyle\s*=", text):
            offending.append(str(template.relative_to(settings.BASE_DIR)))
    assert not offending


def test_a_forwarded_https_header_is_not_trusted_without_a_proxy(rf):
    request = rf.get("/", HTTP_X_FORWARDED_PROTO="https")
    assert settings.SECURE_PROXY_SSL_HEADER is None
    assert not request.is_secure()


@pytest.mark.parametrize(("flag", "expected"), [("", "None"), ("false", "None"),
                                                ("true", "('HTTP_X_FORWARDED_PROTO', 'https')")])
def test_the_forwarded_https_header_is_trusted_only_behind_the_tls_proxy(flag, expected):
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "true", "BEHIND_TLS_PROXY": flag}
    output = subprocess.run(
        [sys.executable, "-c", "import hmis_portal.settings as s; print(s.SECURE_PROXY_SSL_HEADER)"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert output == expected
