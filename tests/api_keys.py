"""API keys and bearer requests in tests."""

import json

from django.contrib.auth.models import Group

from accounts.apikeys.services import api_key_create
from tests.factories import StaffFactory

SYSTEM_ADMIN = "CoC system admin"


def system_admin():
    return StaffFactory(groups=[SYSTEM_ADMIN])


def make_key(owner, *scopes, name="Test key") -> str:
    """A working key of `owner` with `scopes`, made by a system administrator; returns the key itself."""
    assert Group.objects.filter(name=SYSTEM_ADMIN).exists()
    _, plain = api_key_create(actor=system_admin(), owner=owner, name=name, scopes=scopes or ("read",))
    return plain


def bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post_json(client, url, data, key: str | None = None, **extra):
    headers = bearer(key) if key is not None else {}
    return client.post(url, data=json.dumps(data), content_type="application/json", **headers, **extra)
