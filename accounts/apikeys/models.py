from django.conf import settings
from django.db import models
from django.utils import timezone


class Scope(models.TextChoices):
    """What a key may be used for. A key never reaches more than its owner
    may in the browser, whatever its scopes."""

    READ = "read", "Read what the owner may see"
    HMIS_LOGINS_WRITE = "hmis-logins:write", "Send HMIS login activity"


# A key reads "hmisp_<prefix>_<secret>": the prefix is shown in lists so
# people can tell their keys apart; only a hash of the whole key is kept.
KEY_TAG = "hmisp"


class ApiKey(models.Model):
    """A key another system sends as `Authorization: Bearer <key>` to act as
    its owner. The key itself is shown once, when made or rotated; the
    portal keeps its SHA-256 only (the key is 256 random bits, so a fast
    hash is as good as a slow one), so nobody can read it back."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. “HMIS vendor: login activity”.")
    scopes = models.CharField(max_length=200, help_text="Space-separated scopes.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.shown_prefix}…)"

    @property
    def shown_prefix(self) -> str:
        return f"{KEY_TAG}_{self.prefix}"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_list

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def status(self) -> str:
        return "Revoked" if self.is_revoked else "Active"
