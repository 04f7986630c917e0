"""Secrets the portal must keep in order to use them, sealed at rest.

A webhook's signing secret cannot be hashed as an API key is: the portal signs
every delivery with it. It is kept encrypted (Fernet: AES-128-CBC with an
HMAC) under a key derived from SECRET_KEY, so a copy of the database alone
cannot sign a webhook that a receiver would take. Rotating SECRET_KEY keeps
sealed values readable while the old key is in SECRET_KEY_FALLBACKS, as
Django's own signatures do; a value sealed under a key no longer configured
is `Unreadable`, and its owner makes a new one (rotate)."""

import base64

from django.conf import settings

# cryptography is imported where a value is sealed or read: its compiled
# bindings cost every process's start, and most (a command, a page) never
# seal anything.

PREFIX = "sealed:"


class Unreadable(Exception):
    """Sealed under a key this portal no longer has."""


def _fernet(secret_key: str):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    # A key of its own for this use, so a Fernet key is never the SECRET_KEY itself.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"hmis-portal sealed secrets").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys():
    from cryptography.fernet import MultiFernet

    return MultiFernet([_fernet(key) for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)])


def seal(plain: str) -> str:
    return PREFIX + _keys().encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise Unreadable("the value is not sealed")
    from cryptography.fernet import InvalidToken

    try:
        return _keys().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise Unreadable("sealed under a key this portal no longer has (SECRET_KEY changed)") from None
