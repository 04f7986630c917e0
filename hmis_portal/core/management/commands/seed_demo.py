import io

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.template.defaultfilters import pluralize

from hmis_portal.core import cached, outbox, registry
from hmis_portal.core.demo import DEMO_PASSWORD, LOGINS
from hmis_portal.core.models import Notification


class Command(BaseCommand):
    help = "Load demo data for every app (idempotent: run it twice, get the same data) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--pack", default="la",
                            help="The policy pack loaded first (default la); see load_policy.")
        parser.add_argument("--i-know-this-is-not-production", action="store_true", dest="not_production",
                            help="Load the demo with DEBUG off (a staging copy, a load test).")

    def handle(self, *args, pack="la", not_production=False, **options):
        # The demo's logins share one published password, a superuser among them.
        if not (settings.DEBUG or not_production):
            raise CommandError("seed_demo creates logins whose password is published, a superuser among them, and "
                               "DEBUG is off: this looks like production. Nothing was loaded. On a copy that is not "
                               "production, run it again with --i-know-this-is-not-production.")
        # load_policy by name, and each app's demo from the registry: the core uses no app. One summary line
        # here keeps `make run`'s output short; load_policy alone prints it all.
        # The logins this run prints: each app names its own again, run after run.
        LOGINS.clear()
        report = io.StringIO()
        call_command("load_policy", pack, stdout=report, stderr=self.stderr)
        # The last line counts the changes: none on a database that already held
        # the pack (the migrations load LA's), which is the pack in force, not "nothing".
        last = report.getvalue().strip().splitlines()[-1]
        self.stdout.write(f"Policy pack {pack}: " + ("in force (the database already held it)."
                                                     if last == "Nothing changed." else f"loaded, {last}"))
        # The demo's messages stay pending in the outbox (admin: Notifications)
        # rather than flooding the console before the logins.
        # Every builder works through the services, each reading the policy
        # rows and training tables: read once for the run, and after a change.
        with outbox.held(), cached.for_one_run(), transaction.atomic():
            for build in registry.demo_builders:
                build(self.stdout)
        pending = Notification.objects.filter(status=Notification.Status.PENDING).count()
        if pending:
            self.stdout.write(f"{pending} demo message{pluralize(pending)} wait in the outbox (admin: Notifications); "
                              "the delivery job sends them.")
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}) at {settings.PORTAL_BASE_URL}/accounts/login/")
        width = max(len(label) for label, _ in LOGINS)
        for label, email in LOGINS:
            self.stdout.write(f"  {label:<{width}}  {email}")
