from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organizations"

    def ready(self):
        from hmis_portal.core import registry

        from . import demo, receivers  # noqa: F401
        from .access import Work

        registry.demo_builders.add(demo.seed, app=self.name)
        registry.system_admins.provide(_system_admins, app=self.name)
        registry.webhooks_page.provide(_webhook_page, app=self.name)
        for label, works in (("accounts.organization", None),  # None: every CoC group
                             ("accounts.user", (Work.SYSTEM,)),
                             ("accounts.membership", (Work.MANAGE_AGENCIES, Work.SYSTEM)),
                             ("accounts.invitation", (Work.MANAGE_AGENCIES,))):
            registry.history_readers.declare(label, works, app=self.name)
        # Replies to mail about this app's pages go to the implementation team's inbox (core.models.MailPolicy).
        registry.mail_teams.declare("accounts", "implementation", app=self.name)


def _system_admins():
    from .access import webhook_recipients

    return list(webhook_recipients())


def _webhook_page(subscription) -> str:
    from django.urls import reverse

    return reverse("webhook-detail", args=[subscription.pk])
