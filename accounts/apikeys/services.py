"""Making, rotating, revoking and checking API keys (STYLE §2): each change
is one keyword-only service that locks the key, checks the rule in
accounts.access, saves with update_fields and writes an audit event. The key
itself is returned once to the caller and never stored, logged or audited."""

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.access import api_key_refusal, api_key_works_for, can_revoke_api_key, require
from hmis_portal.core.audit import record_event

from .models import KEY_TAG, ApiKey, Scope

# The last use is written at most this often, so a busy key costs no write
# per request.
LAST_USED_EVERY = dt.timedelta(minutes=1)


def key_hash(*, plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    """(prefix, the whole key): 32 bits to tell keys apart in a list, 256
    random bits that are the credential."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(32)}"


def clean_scopes(*, scopes: Iterable[str]) -> str:
    chosen = sorted({scope.strip() for scope in scopes if scope and scope.strip()})
    if not chosen:
        raise ValidationError({"scopes": "Choose at least one scope."})
    unknown = [scope for scope in chosen if scope not in Scope.values]
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope {', '.join(unknown)}; the scopes are "
                                         f"{', '.join(Scope.values)}."})
    return " ".join(chosen)


def api_key_create(*, actor, owner, name: str = "", scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """A new key of `owner`; returns it with the key itself, which is shown
    once and never again. `actor` None: the server's operator, at the
    command line (`manage.py create_api_key`)."""
    scopes = clean_scopes(scopes=scopes)
    if actor is not None:
        refusal = api_key_refusal(actor, owner, scopes.split())
        require(not refusal, refusal)
    elif not owner.is_active:
        raise ValidationError(f"{owner} is deactivated; a key of theirs would not work.")
    name = " ".join((name or "").split())[:100] or scopes
    with transaction.atomic():
        for _ in range(3):
            prefix, plain = _new_secret()
            try:
                with transaction.atomic():
                    key = ApiKey.objects.create(owner=owner, name=name, scopes=scopes, prefix=prefix,
                                                key_hash=key_hash(plain=plain),
                                                created_by=actor if actor is not None else None)
                break
            except IntegrityError:
                # Two keys drew the same 32-bit prefix: draw again.
                continue
        else:  # pragma: no cover - three collisions of 32 random bits
            raise ValidationError("Could not make a key; try again.")
        record_event(actor=actor, subject=key, verb="created an API key", to_state=key.status,
                     reason=f"for {owner.email}, scopes {scopes}", data={"prefix": key.shown_prefix})
    return key, plain


def api_key_rotate(*, actor, key: ApiKey) -> tuple[ApiKey, str]:
    """A new secret for `key` (same owner, name and scopes); the old one
    stops working at once. Returns the new key itself, shown once."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        if key.is_revoked:
            raise ValidationError("This key is revoked; make a new key instead.")
        if actor is not None:
            refusal = api_key_refusal(actor, key.owner, key.scope_list)
            require(not refusal, refusal)
        old = key.shown_prefix
        prefix, plain = _new_secret()
        key.prefix, key.key_hash, key.rotated_at = prefix, key_hash(plain=plain), timezone.now()
        key.save(update_fields=["prefix", "key_hash", "rotated_at"])
        record_event(actor=actor, subject=key, verb="rotated an API key", from_state=old, to_state=key.shown_prefix,
                     reason="The old key stopped working.")
    return key, plain


def api_key_revoke(*, actor, key: ApiKey) -> ApiKey:
    """The key stops working for good. Revoking a revoked key changes nothing."""
    if actor is not None:
        require(can_revoke_api_key(actor, key), "Only the CoC's system administrators and the key's owner "
                                                "revoke a key.")
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        if key.is_revoked:
            return key
        key.revoked_at, key.revoked_by = timezone.now(), actor
        key.save(update_fields=["revoked_at", "revoked_by"])
        record_event(actor=actor, subject=key, verb="revoked an API key", from_state="Active", to_state=key.status)
    return key


def key_for(*, plain: str) -> ApiKey | None:
    """The working key whose secret is `plain`: known by its hash, not
    revoked (nor rotated away: its hash is gone), its owner active."""
    if not plain.startswith(f"{KEY_TAG}_") or len(plain) > 200:
        return None
    key = (ApiKey.objects.select_related("owner").filter(key_hash=key_hash(plain=plain), revoked_at__isnull=True)
           .first())
    if key is None or not api_key_works_for(key.owner):
        return None
    return key


def key_used(*, key: ApiKey, now: dt.datetime | None = None) -> None:
    """Record the key's last use, at most once a minute (one conditional UPDATE)."""
    now = now or timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_EVERY:
        return
    ApiKey.objects.filter(pk=key.pk).exclude(last_used_at__gt=now - LAST_USED_EVERY).update(last_used_at=now)
    key.last_used_at = now
