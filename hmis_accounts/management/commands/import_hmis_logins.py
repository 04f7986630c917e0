import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from hmis_accounts.services import hmis_logins_import


class ProgressBar:
    """A plain text progress bar on stderr (only when it is a terminal, or
    when asked), so a large report shows it is moving."""

    def __init__(self, stream, total: int, label: str, enabled: bool):
        self.stream, self.total, self.label, self.enabled = stream, max(total, 1), label, enabled
        self.done = 0
        self._shown = -1

    def __call__(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        percent = min(100, self.done * 100 // self.total)
        if percent != self._shown:
            self._shown = percent
            filled = percent * 30 // 100
            self.stream.write(f"\r{self.label:<10} [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}% "
                              f"{min(self.done, self.total)}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False


class Command(BaseCommand):
    help = ("Record last HMIS logins from the HMIS login report (CSV with the columns HMIS username and last login "
            "time). The file is read once, as it streams; every row is checked before anything is applied; if any "
            "row is bad, nothing is applied unless --apply-good-rows.")

    # The system checks are `manage.py check`'s and the deploy's: a data
    # import run by an operator or a schedule does not repeat them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the CSV login report")
        parser.add_argument("--apply-good-rows", action="store_true",
                            help="apply the good rows even if some rows are bad (the bad ones are listed)")
        parser.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
        parser.add_argument("--no-progress", action="store_true", help="never show the progress bar")

    def handle(self, *args, file, apply_good_rows=False, progress=False, no_progress=False, **options):
        show = not no_progress and (progress or sys.stderr.isatty())
        bars = []

        def applying(total):
            bars[0].close()
            bars.append(ProgressBar(self.stderr, total, "Applying", show))
            return bars[-1]

        try:
            # Read once, as it streams: the bar counts the file's characters
            # against its size (the number of lines is known only at the end).
            with open(file, newline="", encoding="utf-8-sig") as handle:
                checking = ProgressBar(self.stderr, os.fstat(handle.fileno()).st_size, "Checking", show)
                bars.append(checking)
                # Without a bar the lines go to the import as the file gives them.
                lines = _counted(handle, checking) if show else handle
                outcome = hmis_logins_import(actor=None, lines=lines,
                                             apply_good_rows=apply_good_rows, applying=applying)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise CommandError(f"{file} is not a UTF-8 text (CSV) file.") from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        finally:
            for bar in bars:
                bar.close()

        report, result = outcome.report, outcome.result
        for bad in report.bad_rows:
            self.stderr.write(f"line {bad.line}: {bad.username or '(no username)'}: {bad.problem}")
        if result is None:
            raise CommandError(
                f"{len(report.bad_rows)} bad row{pluralize(len(report.bad_rows))} of {report.rows}; nothing was applied. Fix the file, or run again "
                "with --apply-good-rows to apply the other rows.")
        skipped = f", {len(report.bad_rows)} bad row{pluralize(len(report.bad_rows))} skipped" if report.bad_rows else ""
        self.stdout.write(f"{report.rows} row{pluralize(report.rows)} read: {result.summary()}, {report.never_logged_in} never logged in"
                          f"{skipped}.")


def _counted(handle, bar):
    for line in handle:
        bar(len(line))
        yield line
