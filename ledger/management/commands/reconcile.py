from itertools import islice

from django.core.management.base import BaseCommand, CommandError

from ledger.reconciliation import reconcile_run_record

# A systematic drift (every wallet of a currency, every round of a provider) is named this
# far and counted beyond: the first ones say what went wrong.
PRINTED_PROBLEMS = 100


class Command(BaseCommand):
    help = (
        "Prove the books: every journal transaction balances, every wallet equals its ledger and every account "
        "of a player's wallet with money has its wallet, the withdrawals awaiting review are what their holding "
        "accounts hold, and the game rounds' counts and totals are what their journal says (those opened or moved "
        "since the last run that found none drifted, or every round with --all-rounds). The run is recorded for "
        "/metrics."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all-rounds",
            action="store_true",
            help="Compare every game round with its journal (the first run does anyway).",
        )

    def handle(self, *args, **options):
        self.stdout.write("Reconciling the ledger ...")
        report = reconcile_run_record(
            all_rounds=options["all_rounds"], progress=lambda line: self.stdout.write(f"  {line}")
        )
        for problem in islice(report.problems(), PRINTED_PROBLEMS):
            self.stdout.write(self.style.ERROR(f"  {problem.describe()}"))
        if report.problem_count > PRINTED_PROBLEMS:
            self.stdout.write(
                self.style.ERROR(
                    f"  ... and {report.problem_count - PRINTED_PROBLEMS} more (the first {PRINTED_PROBLEMS} shown)"
                )
            )
        if not report.ok:
            first = next(report.problems()).describe()
            raise CommandError(
                f"Reconciliation FAILED: {len(report.unbalanced)} unbalanced, {len(report.mismatches)} mismatched;"
                f" first: {first}"
            )
        rounds = (
            "every one"
            if report.rounds_window is None
            else "those opened or moved since the last run that found none drifted"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: {report.accounts_checked} wallets and holding accounts match their ledger accounts; "
                f"{report.rounds_checked} rounds ({rounds}) match their journal; every journal transaction balances."
            )
        )
