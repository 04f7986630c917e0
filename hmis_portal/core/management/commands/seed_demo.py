from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from hmis_portal.core.demo import DEMO_PASSWORD, LOGINS


class Command(BaseCommand):
    help = "Load demo data for every app (idempotent: run it twice, get the same data) and print the logins."

    def handle(self, *args, **options):
        with transaction.atomic():
            for config in apps.get_app_configs():
                seeder = getattr(config, "seed_demo", None)
                if seeder is not None:
                    seeder(self.stdout)
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}) at {settings.PORTAL_BASE_URL}/accounts/login/")
        width = max(len(label) for label, _ in LOGINS)
        for label, email in LOGINS:
            self.stdout.write(f"  {label:<{width}}  {email}")
