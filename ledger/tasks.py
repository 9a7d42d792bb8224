import logging

from celery import shared_task

from .reconciliation import ledger_reconcile

logger = logging.getLogger(__name__)


@shared_task
def ledger_reconcile_task() -> dict[str, int]:
    report = ledger_reconcile()
    if not report.ok:
        logger.error(
            "ledger reconciliation failed: %d unbalanced, %d balance mismatches",
            len(report.unbalanced),
            len(report.mismatches),
        )
    return {
        "accounts_checked": report.accounts_checked,
        "unbalanced": len(report.unbalanced),
        "mismatches": len(report.mismatches),
    }
