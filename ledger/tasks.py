import logging

from celery import shared_task
from django.conf import settings

from .reconciliation import ledger_reconcile

logger = logging.getLogger(__name__)


# It reads the whole journal: longer than the default limit on a large one.
@shared_task(
    soft_time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS,
    time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS + 60,
)
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
