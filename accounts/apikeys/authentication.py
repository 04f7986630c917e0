"""`Authorization: Bearer <key>` for the API (settings.REST_FRAMEWORK): the
only way in. The API never reads the session, so a page open in a browser
cannot be made to call it (no CSRF to worry about), and the sign-in
middleware's second factor and idle timeout are the browser's, not the
key's (accounts.signin.middleware lets /api/ through)."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from . import services

REFUSED = "This API key is unknown, revoked or replaced by a rotation, or its owner is deactivated."


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the key as “Authorization: Bearer <key>”.")
        try:
            plain = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(REFUSED) from None
        key = services.key_for(plain=plain)
        if key is None:
            raise AuthenticationFailed(REFUSED)
        services.key_used(key=key)
        return key.owner, key

    def authenticate_header(self, request):
        # Makes a missing or refused key a 401 (with this challenge), not a 403.
        return 'Bearer realm="api"'


# The bearer scheme in the served OpenAPI schema: registered with the class
# it describes, which the schema reads, rather than at every process's start
# (drf-spectacular and the REST framework it loads cost a command or a worker
# their import and need nothing from it).
from . import schema  # noqa: E402, F401
