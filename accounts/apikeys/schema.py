"""How the served OpenAPI schema describes the key (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.apikeys.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API key of the portal, made by a system administrator (or, for reading, by "
                               "its owner) and shown once: `Authorization: Bearer hmisp_…`."}
