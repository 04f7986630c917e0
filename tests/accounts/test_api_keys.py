"""API keys: shown once and stored as a hash only; made, rotated and
revoked through audited services by those accounts.access allows; the admin
for system administrators and the create_api_key command call the same
services."""

import hashlib
import json
import re
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.apikeys.models import ApiKey
from accounts.apikeys.services import api_key_create, api_key_revoke, api_key_rotate
from hmis_portal.core.models import AuditEvent
from tests.api_keys import post_json, system_admin
from tests.factories import MembershipFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
LOGINS = "api:hmis-logins"


def _stored_anywhere(plain: str) -> bool:
    """Whether the key itself is in any key row or audit event."""
    rows = [json.dumps(list(ApiKey.objects.values_list()), default=str),
            json.dumps(list(AuditEvent.objects.values_list()), default=str)]
    return any(plain in row for row in rows)


def _works(client, plain) -> int:
    return post_json(client, reverse(LOGINS), {"logins": []}, plain).status_code


def test_a_new_key_is_returned_once_and_only_its_hash_is_kept():
    admin, owner = system_admin(), StaffFactory(groups=["CoC provisioning"])
    key, plain = api_key_create(actor=admin, owner=owner, name="HMIS vendor", scopes=["hmis-logins:write"])
    assert re.fullmatch(r"hmisp_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", plain)
    assert key.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain.startswith(key.shown_prefix + "_")
    assert not _stored_anywhere(plain)
    assert key.created_by == admin and key.owner == owner and key.scope_list == ["hmis-logins:write"]
    event = AuditEvent.objects.get(verb="created an API key")
    assert event.actor == admin and event.object_id == str(key.pk)


def test_two_keys_never_share_a_secret():
    owner = StaffFactory(groups=["CoC provisioning"])
    plains = {api_key_create(actor=system_admin(), owner=owner, scopes=["read"])[1] for _ in range(5)}
    assert len(plains) == 5


@pytest.mark.parametrize("scopes", [[], ["write-everything"], ["read", "admin"]])
def test_unknown_or_no_scopes_are_refused(scopes):
    with pytest.raises(ValidationError):
        api_key_create(actor=system_admin(), owner=UserFactory(), scopes=scopes)
    assert not ApiKey.objects.exists()


def test_who_may_make_keys():
    person = MembershipFactory(persona="executive_director").user
    # A read key for oneself (the read API's keys).
    key, _ = api_key_create(actor=person, owner=person, scopes=["read"])
    assert key.owner == person
    # Not a key that changes anything, nor anyone else's key.
    with pytest.raises(PermissionDenied):
        api_key_create(actor=person, owner=person, scopes=["hmis-logins:write"])
    with pytest.raises(PermissionDenied):
        api_key_create(actor=person, owner=UserFactory(), scopes=["read"])
    for group in ("CoC implementation", "CoC training", "CoC provisioning", "CES team"):
        staff = StaffFactory(groups=[group])
        with pytest.raises(PermissionDenied):
            api_key_create(actor=staff, owner=UserFactory(), scopes=["hmis-logins:write"])
    # System administrators make the vendor's keys, for an active owner.
    api_key_create(actor=system_admin(), owner=StaffFactory(groups=["CoC provisioning"]),
                   scopes=["hmis-logins:write"])
    with pytest.raises(PermissionDenied):
        api_key_create(actor=system_admin(), owner=UserFactory(is_active=False), scopes=["read"])


def test_revoking_is_audited_once_and_only_for_admins_and_the_owner():
    owner = StaffFactory(groups=["CoC provisioning"])
    key, _ = api_key_create(actor=system_admin(), owner=owner, scopes=["hmis-logins:write"])
    with pytest.raises(PermissionDenied):
        api_key_revoke(actor=StaffFactory(groups=["CoC provisioning"]), key=key)
    api_key_revoke(actor=owner, key=key)
    api_key_revoke(actor=system_admin(), key=key)  # a second revoke changes nothing
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == owner
    assert AuditEvent.objects.filter(verb="revoked an API key", object_id=str(key.pk)).count() == 1
    with pytest.raises(ValidationError):
        api_key_rotate(actor=system_admin(), key=key)


def test_rotating_replaces_the_secret_and_is_audited(client):
    owner = StaffFactory(groups=["CoC provisioning"])
    key, old = api_key_create(actor=system_admin(), owner=owner, scopes=["hmis-logins:write"])
    old_hash = key.key_hash
    rotated, new = api_key_rotate(actor=system_admin(), key=key)
    assert rotated.pk == key.pk and rotated.key_hash != old_hash and rotated.rotated_at is not None
    assert rotated.key_hash == hashlib.sha256(new.encode()).hexdigest()
    assert not _stored_anywhere(new) and not _stored_anywhere(old)
    assert (_works(client, old), _works(client, new)) == (401, 200)
    assert AuditEvent.objects.filter(verb="rotated an API key", object_id=str(key.pk)).count() == 1


# --- the command ------------------------------------------------------------------------------------

def test_the_command_prints_a_key_that_works(client):
    owner = StaffFactory(email="vendor-feed@example.org", groups=["CoC provisioning"])
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "Vendor-Feed@example.org", "--scope", "hmis-logins:write", "--name",
                 "HMIS vendor: login activity", stdout=out, stderr=err)
    plain = out.getvalue().strip()
    key = ApiKey.objects.get(owner=owner)
    assert key.name == "HMIS vendor: login activity" and key.scopes == "hmis-logins:write"
    assert key.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert "shown only now" in err.getvalue() and plain not in err.getvalue()
    assert _works(client, plain) == 200


def test_the_command_refuses_an_unknown_person_or_scope():
    with pytest.raises(CommandError, match="Nobody has"):
        call_command("create_api_key", "nobody@example.org", "--scope", "read", stdout=StringIO())
    UserFactory(email="someone@example.org")
    with pytest.raises(CommandError):
        call_command("create_api_key", "someone@example.org", "--scope", "everything", stdout=StringIO(),
                     stderr=StringIO())
    assert not ApiKey.objects.exists()


# --- the admin -------------------------------------------------------------------------------------

def _shown_key(response) -> str:
    match = re.search(r'id="api-key"[^>]*value="([^"]+)"', response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(1)


def test_a_system_admin_makes_rotates_and_revokes_a_key_in_the_admin(client):
    admin_user, owner = system_admin(), StaffFactory(groups=["CoC provisioning"])
    client.force_login(admin_user)
    form = client.get(reverse("admin:apikeys_apikey_add"))
    assert form.status_code == 200 and 'value="hmis-logins:write"' in form.content.decode()
    response = client.post(reverse("admin:apikeys_apikey_add"),
                           {"owner": owner.pk, "name": "HMIS vendor", "scopes": ["hmis-logins:write"]})
    assert response.status_code == 200
    plain = _shown_key(response)
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert (key.owner, key.created_by, key.scopes) == (owner, admin_user, "hmis-logins:write")
    assert not _stored_anywhere(plain)
    # Never shown again: neither the key's page nor the list carries it.
    page = client.get(reverse("admin:apikeys_apikey_change", args=[key.pk]))
    assert page.status_code == 200 and plain not in page.content.decode()
    assert key.shown_prefix in page.content.decode() and "Rotate" in page.content.decode()
    assert plain not in client.get(reverse("admin:apikeys_apikey_changelist")).content.decode()
    assert _works(client, plain) == 200

    rotated = client.post(reverse("admin:apikeys_apikey_rotate", args=[key.pk]))
    new = _shown_key(rotated)
    assert new != plain
    assert (_works(client, plain), _works(client, new)) == (401, 200)

    revoked = client.post(reverse("admin:apikeys_apikey_revoke", args=[key.pk]))
    assert revoked.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == admin_user
    assert _works(client, new) == 401


def test_the_admin_refuses_an_own_key_that_changes_things_with_the_reason(client):
    admin_user = system_admin()
    client.force_login(admin_user)
    response = client.post(reverse("admin:apikeys_apikey_add"),
                           {"owner": UserFactory(is_active=False).pk, "name": "x", "scopes": ["read"]})
    assert response.status_code == 200
    assert "deactivated" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_revoke_action_revokes_each_selected_key(client):
    admin_user = system_admin()
    keys = [api_key_create(actor=admin_user, owner=UserFactory(), scopes=["read"])[0] for _ in range(2)]
    client.force_login(admin_user)
    client.post(reverse("admin:apikeys_apikey_changelist"),
                {"action": "revoke_selected", "_selected_action": [k.pk for k in keys]})
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2


@pytest.mark.parametrize("group", ["CoC implementation", "CoC training", "CoC provisioning", "CES team"])
def test_other_groups_cannot_make_rotate_or_revoke_keys_in_the_admin(client, group):
    key, plain = api_key_create(actor=system_admin(), owner=StaffFactory(groups=["CoC provisioning"]),
                                scopes=["hmis-logins:write"])
    client.force_login(StaffFactory(groups=[group]))
    add = client.post(reverse("admin:apikeys_apikey_add"),
                      {"owner": key.owner.pk, "name": "mine", "scopes": ["hmis-logins:write"]})
    assert add.status_code == 403
    assert client.post(reverse("admin:apikeys_apikey_rotate", args=[key.pk])).status_code in (403, 404)
    assert client.post(reverse("admin:apikeys_apikey_revoke", args=[key.pk])).status_code in (403, 404)
    assert ApiKey.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None and _works(client, plain) == 200
