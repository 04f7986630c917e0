import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize
from django.urls import reverse

from hmis_portal.core.site import portal_url
from referrals import hud
from referrals.models import Referral


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"“{value}” is not a date: write it as YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = ("Write HUD's Event.csv of the referrals made from --from to --to (local days, both included; by default "
            "every referral up to today), with its Export.csv, in one zip: the file the referrals page offers the "
            "CES team (FY2026 HMIS CSV Format Specifications).")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="The zip file to write.")
        parser.add_argument("--from", dest="start", type=_day, help="First day of referrals (YYYY-MM-DD).")
        parser.add_argument("--to", dest="end", type=_day, help="Last day of referrals (YYYY-MM-DD).")

    def handle(self, *args, out, start, end, **options):
        if start and end and start > end:
            raise CommandError(f"--from {start} comes after --to {end}.")
        export = hud.build(Referral.objects.all(), start=start, end=end)
        Path(out).write_bytes(export.content)
        self.stdout.write(f"Wrote {export.events} event{pluralize(export.events)} of referrals made "
                          f"{export.start:%Y-%m-%d} to {export.end:%Y-%m-%d} to {out}.")
        if export.no_enrollment:
            count = len(export.no_enrollment)
            self.stdout.write(f"{count} referral{pluralize(count)} left out: no CE enrollment ID. Record the client's "
                              f"CE enrollment ID on each referral, then export again:")
            for pk, client_id in export.no_enrollment:
                self.stdout.write(f"  referral {pk} (client {client_id}): "
                                  f"{portal_url(reverse('referrals:detail', args=[pk]))}")
        for name, count in sorted(export.left_out.items()):
            self.stdout.write(f"Left out {count} referral{pluralize(count)} to {name} programs: their program type "
                              f"has no HUD project type that takes a referral event.")
