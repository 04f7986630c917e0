from django.core.management.base import BaseCommand, CommandError

from hmis_portal import policy_pack


class Command(BaseCommand):
    help = ("Load a CoC's policy pack (courses, CES roles, user forms, need statuses and policy numbers) by name "
            "from policy_packs/ or from a JSON file. Rows the pack does not name are retired, never deleted.")

    def add_arguments(self, parser):
        parser.add_argument("pack", help=f"A pack name ({', '.join(policy_pack.available())}) or a path to a JSON file.")
        parser.add_argument("--dry-run", action="store_true", help="Check and report the changes, then save nothing.")

    def handle(self, *args, pack, dry_run, **options):
        try:
            report = policy_pack.load(pack, dry_run=dry_run)
        except policy_pack.PackError as error:
            for message in error.messages:
                self.stderr.write(message)
            raise CommandError(f"The policy pack was not loaded ({len(error.messages)} "
                               f"problem{'s' if len(error.messages) != 1 else ''}); nothing was changed.")
        for line in report.lines:
            self.stdout.write(line)
