from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self):
        from hmis_portal.core import registry

        from . import demo, receivers  # noqa: F401
        from .access import Work

        registry.demo_builders.add(demo.seed, app=self.name)
        for label, works in (("accounts.organization", None),  # None: every CoC group
                             ("accounts.user", (Work.SYSTEM,)),
                             ("accounts.membership", (Work.MANAGE_AGENCIES, Work.SYSTEM)),
                             ("accounts.invitation", (Work.MANAGE_AGENCIES,))):
            registry.history_readers.declare(label, works, app=self.name)
