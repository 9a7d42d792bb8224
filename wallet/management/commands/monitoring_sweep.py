from datetime import UTC, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casino_platform import clock
from casino_platform.errors import ValidationFailed
from ledger.exports import Period
from ledger.management.commands.ledger_report import day_argument
from wallet.services.monitoring import SweepResult, monitoring_backfill, monitoring_sweep


def _counts(result: SweepResult) -> str:
    return ", ".join(f"{count} {rule}" for rule, count in result.raised.items())


class Command(BaseCommand):
    help = (
        "Raise the anti-money-laundering monitoring alerts (the currencies' 'flag wins above', 'flag deposits "
        "in 24 hours above' and 'flag withdrawals after wagering below') for staff to review under Wallets → "
        "Monitoring alerts. Without --since: one sweep from where the last ended, as Celery beat runs it. With "
        "--since: read those whole UTC days of the journal (a line per day), for history from before the rules "
        "were set; safe to run again, an alert is raised once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=day_argument, help="First day, inclusive (YYYY-MM-DD, UTC).")
        parser.add_argument(
            "--until",
            type=day_argument,
            help="Day after the last, exclusive (YYYY-MM-DD, UTC); default: tomorrow, so today is read.",
        )

    def handle(self, *args: Any, since: Any, until: Any, **options: Any) -> None:
        if since is None:
            if until is not None:
                raise CommandError("--until needs --since.")
            result = monitoring_sweep()
            if result.skipped:
                self.stdout.write(self.style.WARNING("Another sweep is running: nothing read."))
                return
            self.stdout.write(
                f"Read the journal from {result.since:%Y-%m-%d %H:%M:%S} to {result.until:%Y-%m-%d %H:%M:%S} UTC: "
                f"raised {_counts(result)}."
            )
            return
        try:
            # Today included by default: the part of it still to come holds nothing yet.
            period = Period.of_days(since, until or clock.now().astimezone(UTC).date() + timedelta(days=1))
            result = monitoring_backfill(since=period.since, until=period.until, progress=self._day_done)
        except (ValueError, ValidationFailed) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Read {period.since:%Y-%m-%d} to {period.until:%Y-%m-%d} (exclusive): raised {_counts(result)}."
            )
        )

    def _day_done(self, day: SweepResult) -> None:
        self.stdout.write(f"{day.since:%Y-%m-%d}: raised {_counts(day)}")
