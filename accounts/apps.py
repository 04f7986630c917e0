from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organizations"

    def seed_demo(self, stdout):
        from . import demo

        demo.seed(stdout)
