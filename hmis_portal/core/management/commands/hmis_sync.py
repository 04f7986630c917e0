from django.core.management.base import BaseCommand, CommandError

from hmis_portal.core import provisioning, registry, scim


class Command(BaseCommand):
    help = ("Reconcile the HMIS with the portal now: print a DRIFT line per drifted account and, unless "
            "--dry-run, queue and send what corrects it.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only report: change nothing anywhere.")

    def handle(self, *args, dry_run=False, **options):
        if not provisioning.enabled():
            raise CommandError("No HMIS provisioning target: HMIS_SCIM_URL is not set.")
        # The app that holds the HMIS accounts provides what the portal has
        # through the registry.
        directory = registry.hmis_directory()
        try:
            report = scim.sync(directory.accounts, managed_groups=directory.managed_groups, dry_run=dry_run,
                               deactivate_unknown=directory.deactivate_unknown)
        except (provisioning.Transient, provisioning.Refused) as exc:
            raise CommandError(f"Cannot read the HMIS: {exc}") from None
        for drift in report.drifts:
            self.stdout.write(drift.line())
        summary = f"{len(report.drifts)} drifted"
        if not dry_run:
            summary += f"; {report.queued} command{'s' if report.queued != 1 else ''} queued; " \
                       f"{report.delivery.get('summary', '')}"
        self.stdout.write(summary)
