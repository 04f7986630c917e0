"""A real OpenID Connect provider for the sign-in tests: Node's `oidc-provider`
(the certified provider, MIT, pinned in package.json) run by
tests/oidc/provider.mjs as a separate process on a spare port, with one test
client and the accounts a test gives it; and a plain HTTP client that signs in
through the portal and the provider the way a browser does (following
redirects, keeping cookies), for the tests that need no browser."""

import contextlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.faults import spare_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"
CLIENT_ID = "hmis-portal"
CLIENT_SECRET = "provider-test-client-secret-that-is-long-enough"


class OidcProvider:
    """`node tests/oidc/provider.mjs`, started and stopped by the test.

    accounts: {email: {"email_verified": bool, "amr": [...], "acr": "..."}};
    issuer: what the provider calls itself (default its own address);
    clock_skew: seconds added to its clock; audience: the `aud` its ID tokens
    carry instead of the client's id (a provider that mixes up its clients).
    """

    def __init__(self, *, portal_url: str, accounts: dict, issuer: str | None = None, clock_skew: int = 0,
                 audience: str | None = None):
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = issuer or self.url
        self.portal_url = portal_url.rstrip("/")
        self.accounts = accounts
        self.clock_skew = clock_skew
        self.audience = audience
        self.process = None
        self.output = None

    def start(self) -> "OidcProvider":
        client = {
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{self.portal_url}/sign-in/provider/callback/"],
            "post_logout_redirect_uris": [f"{self.portal_url}/accounts/login/"],
        }
        environment = {**os.environ, "OIDC_TEST_PORT": str(self.port), "OIDC_TEST_ISSUER": self.issuer,
                       "OIDC_TEST_CLIENT": json.dumps(client), "OIDC_TEST_ACCOUNTS": json.dumps(self.accounts),
                       "OIDC_TEST_CLOCK_SKEW": str(self.clock_skew), "OIDC_TEST_AUDIENCE": self.audience or ""}
        # Its output goes to a file, never a pipe nobody reads (a full pipe would stop it).
        self.output = tempfile.TemporaryFile()
        self.process = subprocess.Popen(["node", str(SCRIPT)], cwd=ROOT, env=environment,
                                        stdout=self.output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                response = requests.get(f"{self.url}/.well-known/openid-configuration", timeout=2)
                if response.status_code == 200:
                    return self
            if self.process.poll() is not None:
                self.output.seek(0)
                output = self.output.read().decode(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"oidc-provider exited at start: {output}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("oidc-provider did not publish its discovery document within 20 s")

    def stop(self) -> None:
        stop_process(self.process)
        if self.output is not None:
            self.output.close()
            self.output = None

    def configure(self, settings, **overrides) -> None:
        """Point the portal at this provider (pytest-django's `settings`)."""
        settings.OIDC_ISSUER = self.issuer
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_PROVIDER_NAME = "Test Provider"
        settings.OIDC_SECOND_FACTOR_AMR = ["mfa"]
        settings.OIDC_SECOND_FACTOR_ACR = []
        settings.OIDC_CREATE_STAFF_DOMAIN = ""
        # The portal's public address, the one registered with the provider.
        settings.PORTAL_BASE_URL = self.portal_url
        for name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS", "END_SESSION"):
            setattr(settings, f"OIDC_OP_{name}_ENDPOINT", "")
        for name, value in overrides.items():
            setattr(settings, name, value)
        csp = {**settings.CONTENT_SECURITY_POLICY, "DIRECTIVES": dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])}
        csp["DIRECTIVES"]["form-action"] = [*csp["DIRECTIVES"]["form-action"], self.url]
        settings.CONTENT_SECURITY_POLICY = csp

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Browserless:
    """Signs in as a browser would, without one: the portal through Django's
    test client (its redirect to the provider, the callback), the provider over
    real HTTP with its cookies kept, every redirect followed by hand."""

    def __init__(self, client):
        self.client = client
        self.http = requests.Session()

    def start(self, next_path: str = "") -> requests.Response:
        """Click "Sign in with …": ends on the provider's sign-in page or, when
        the provider's session already knows the person, straight back at the
        portal (`response.callback`). `response.authorization_url` is the
        portal's request to the provider."""
        response = self.client.get("/sign-in/provider/", {"next": next_path} if next_path else {})
        assert response.status_code == 302, response.status_code
        authorization_url = response["Location"]
        page, callback = self._follow(self.http.get(authorization_url, timeout=10, allow_redirects=False))
        page.authorization_url = authorization_url
        page.callback = callback
        return page

    def _follow(self, response):
        while response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if target.startswith(PORTAL):
                return response, target[len(PORTAL):]
            response = self.http.get(target, timeout=10, allow_redirects=False)
        return response, None

    def provider_sign_in(self, page: requests.Response, email: str) -> str:
        """Type the email on the provider's page; returns the portal URL the
        provider sends the browser back to (the callback, not yet opened)."""
        if page.callback:
            return page.callback
        action = re.search(r'action="([^"]+)"', page.text)
        assert action, f"not the provider's sign-in page: {page.status_code} {page.text[:500]}"
        response, callback = self._follow(self.http.post(urljoin(page.url, action.group(1)), data={"login": email},
                                                         timeout=10, allow_redirects=False))
        assert callback, f"the provider did not send the browser back: {response.status_code} {response.text[:500]}"
        return callback

    def callback(self, path: str):
        return self.client.get(path)

    def sign_in(self, email: str, next_path: str = ""):
        """The whole round: the portal's answer to the callback."""
        return self.callback(self.provider_sign_in(self.start(next_path), email))


# The Django test client's address, to which the provider sends the browser back.
PORTAL = "http://testserver"
