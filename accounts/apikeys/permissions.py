from rest_framework.permissions import BasePermission

from .models import ApiKey


class KeyHasScope(BasePermission):
    """The request's key carries the view's `required_scope` (a view without
    one needs no particular scope). What the key's owner may see or do is
    each view's own check, with the predicates of accounts.access."""

    def has_permission(self, request, view):
        scope = getattr(view, "required_scope", None)
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if scope is None or key.has_scope(scope):
            return True
        self.message = f"This key does not have the scope “{scope}”."
        return False
