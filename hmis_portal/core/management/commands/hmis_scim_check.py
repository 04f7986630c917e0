from django.core.management.base import BaseCommand, CommandError

from hmis_portal.core.scim import check_connection


class Command(BaseCommand):
    help = "Test the connection to the HMIS provisioning target: read its /ServiceProviderConfig."

    def handle(self, *args, **options):
        ok, line = check_connection()
        if not ok:
            raise CommandError(line)
        self.stdout.write(line)
