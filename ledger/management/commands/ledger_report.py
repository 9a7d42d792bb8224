import argparse
import getpass
import os
import sys
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from casino_platform import clock
from ledger.exports import REPORTS, SETTLING_MARGIN, Period, report_csv, report_filename, report_snapshot
from ledger.models import Currency, ExportRecord
from ledger.services import export_record_finish, export_record_start

PROGRESS_EVERY = 50_000


def day_argument(value: str) -> date:
    """A command's --since or --until: a UTC day, YYYY-MM-DD. Refused as argparse refuses a
    value (a usage line and the message): a CommandError raised while the arguments are read
    escapes Django's handling as a traceback."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Export a ledger report as CSV for whole UTC days: trial-balance (every account's opening and closing "
        "balance), trial-balance-summary (the same in all per account kind and currency), ggr (gross gaming "
        "revenue per day, provider and currency), game-ggr (the same per game), "
        "cashier (deposits, withdrawals and their returns per day and currency) or journal (every entry). "
        "Amounts in major units with the currency's exponent. Yesterday unless --since/--until say otherwise. "
        "Each run is recorded under Ledger → Export records, as command:<the OS user> or command:<--by>."
    )

    def add_arguments(self, parser):
        parser.add_argument("report", choices=sorted(REPORTS))
        parser.add_argument("--since", type=day_argument, help="First day, inclusive (YYYY-MM-DD, UTC).")
        parser.add_argument("--until", type=day_argument, help="Day after the last, exclusive (YYYY-MM-DD, UTC).")
        parser.add_argument("--currency", help="Only this currency (ISO 4217 code).")
        parser.add_argument(
            "--output", "-o", help="File to write; '-' for standard output. Default: <report>_<since>_<until>.csv."
        )
        parser.add_argument(
            "--allow-unsettled",
            action="store_true",
            help="Write a period that ended less than 5 minutes ago (or has not ended): provisional figures, "
            "named <report>_<since>_<until>_provisional.csv by default.",
        )
        parser.add_argument(
            "--by",
            help="Who the export is recorded as made by (Ledger → Export records), as command:<BY>: the person "
            "a scheduled job runs for, say. Default: the OS user running the command.",
        )

    def handle(self, *args, report: str, since, until, currency, output, allow_unsettled, by, **options):
        try:
            period = Period.of_days(since, until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if currency:
            currency = currency.upper()
            if not Currency.objects.filter(code=currency).exists():
                raise CommandError(f"Unknown currency {currency!r}: see the admin's Currencies.")
        exported_by = f"command:{by or _os_user()}"
        if len(exported_by) > (ExportRecord._meta.get_field("exported_by").max_length or 0) or "\x00" in exported_by:
            raise CommandError(f"--by {by!r} is too long or holds a NUL: name who it is for in a few words.")
        settled = period.is_settled(now=clock.now())
        if not settled and not allow_unsettled:
            # A job run at midnight would file figures a late commit still changes.
            final_after = period.until + SETTLING_MARGIN
            raise CommandError(
                f"The period ends at {period.until:%Y-%m-%d %H:%M} UTC and movements stamped before it may still be "
                f"committing: its figures are final from {final_after:%Y-%m-%d %H:%M} UTC. Run it then, or pass "
                "--allow-unsettled for provisional figures."
            )
        chosen = REPORTS[report]
        output = output or report_filename(chosen, period, currency, provisional=not settled)
        if output != "-":
            # Refused before the report runs, not after it was written (a directory) or with a
            # traceback (a folder that does not exist).
            folder = os.path.dirname(os.path.abspath(output))
            if os.path.isdir(output):
                raise CommandError(f"--output {output!r} is a directory; name a file in it.")
            if not os.path.isdir(folder):
                raise CommandError(f"--output {output!r}: there is no directory {folder!r}.")
            if not os.access(folder, os.W_OK):
                raise CommandError(f"--output {output!r}: the directory {folder!r} is not writable.")
        # Progress and the summary go to stderr, so that `-o -` leaves a clean CSV on stdout.
        log = self.stderr if output == "-" else self.stdout
        log.write(f"{chosen.title}, {period.since:%Y-%m-%d} to {period.until:%Y-%m-%d} (exclusive), UTC")
        if not settled:
            log.write(
                self.style.WARNING(
                    "The period ended less than 5 minutes ago (or has not ended): movements still committing "
                    "may be missing from it. Run the report again later for the final figures."
                )
            )
        record = export_record_start(
            exported_by=exported_by,
            report=chosen.name,
            since=period.since,
            until=period.until,
            currency=currency,
            provisional=not settled,
        )
        started = time.monotonic()
        rows = -1  # the header is not a row
        # Written beside the target and renamed at the end: a failed run leaves no half a report.
        sink = None if output == "-" else open(output + ".part", "w", newline="", encoding="utf-8")
        write = sink.write if sink else (lambda line: self.stdout.write(line, ending=""))
        try:
            with report_snapshot():
                for line in report_csv(chosen, period=period, currency=currency):
                    write(line)
                    rows += 1
                    if rows and rows % PROGRESS_EVERY == 0:
                        log.write(f"  {rows:,} rows, {time.monotonic() - started:.1f} s")
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as a shell tool does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except BaseException:
            if sink:
                sink.close()
                os.unlink(sink.name)
            raise
        if sink:
            sink.close()
            os.replace(sink.name, output)
        export_record_finish(record_id=record.pk, rows=rows)
        where = "standard output" if output == "-" else output
        log.write(
            self.style.SUCCESS(
                f"{rows:,} row{'' if rows == 1 else 's'} to {where} in {time.monotonic() - started:.1f} s"
            )
        )


def _os_user() -> str:
    """The OS user running the command; its uid where the system names none (a container's)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
