from django.core.management.base import BaseCommand, CommandError

from ledger.reconciliation import ledger_reconcile


class Command(BaseCommand):
    help = (
        "Prove the books: every journal transaction balances, every wallet equals its ledger, and the "
        "withdrawals awaiting review are what their holding accounts hold."
    )

    def handle(self, *args, **options):
        self.stdout.write("Reconciling the ledger ...")
        report = ledger_reconcile(
            progress=lambda check, seconds: self.stdout.write(f"  checked: {check} ({seconds:.1f} s)")
        )
        for problem in report.problems():
            self.stdout.write(self.style.ERROR(f"  {problem.describe()}"))
        if not report.ok:
            first = next(report.problems()).describe()
            raise CommandError(
                f"Reconciliation FAILED: {len(report.unbalanced)} unbalanced, {len(report.mismatches)} mismatched;"
                f" first: {first}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: {report.accounts_checked} wallets and holding accounts match their ledger accounts; "
                "every journal transaction balances."
            )
        )
