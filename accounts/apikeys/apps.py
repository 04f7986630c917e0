from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    """Keys with which another system (the HMIS vendor, a CoC's script)
    calls the portal's API as the person who owns the key: stored hashed,
    shown once, scoped, revocable, rotatable and rate-limited. Part of
    accounts (SPEC §5); its rules of who may make and revoke keys are in
    accounts.access."""

    name = "accounts.apikeys"
    label = "apikeys"
    verbose_name = "API keys"

    def ready(self):
        from accounts.access import Work
        from hmis_portal.core import registry

        registry.history_readers.declare("apikeys.apikey", (Work.SYSTEM,), app=self.label)
