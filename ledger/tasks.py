import logging
from itertools import islice

from celery import shared_task
from django.conf import settings

from .reconciliation import reconcile_run_record

logger = logging.getLogger(__name__)


# It reads the whole journal: longer than the default limit on a large one.
@shared_task(
    soft_time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS,
    time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS + 60,
)
def ledger_reconcile_task() -> dict[str, int]:
    report = reconcile_run_record()
    if not report.ok:
        # The first few by name, to start looking at from the log alone.
        first = "; ".join(problem.describe() for problem in islice(report.problems(), 5))
        logger.error(
            "ledger reconciliation failed: %d unbalanced, %d mismatches; first: %s",
            len(report.unbalanced),
            len(report.mismatches),
            first,
        )
    return {
        "accounts_checked": report.accounts_checked,
        "rounds_checked": report.rounds_checked,
        "unbalanced": len(report.unbalanced),
        "mismatches": len(report.mismatches),
    }
