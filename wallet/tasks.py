import logging

from celery import shared_task
from django.conf import settings

from .services.monitoring import SweepResult, monitoring_reread_yesterday, monitoring_sweep
from .services.webhooks import withdrawal_event_deliver, withdrawal_events_due_ids


@shared_task(acks_late=True, ignore_result=True)
def withdrawal_event_deliver_task(event_id: int) -> str:
    """Send one withdrawal event to the casino's payment system; safe to run twice (lease)."""
    return withdrawal_event_deliver(event_id=event_id)


@shared_task(ignore_result=True, expires=settings.OUTBOUND_SWEEP_SECONDS)  # as outbound_sweep_task
def withdrawal_event_sweep_task() -> int:
    """Beat: queue the events whose retry is due or whose task was lost (a dead worker, a
    restarted broker). An event waits longer then; it is never lost."""
    due = withdrawal_events_due_ids()
    for event_id in due:
        withdrawal_event_deliver_task.delay(event_id)
    return len(due)


logger = logging.getLogger(__name__)


# A sweep that waited longer than its period is overtaken by the next one: let it expire.
# It may read a whole day (the first, or one after an outage), as the nightly re-read does,
# so it has the long tasks' limit: under the default one such a read was undone at 120 s and
# tried again every minute, and no alert was raised again.
@shared_task(
    ignore_result=True,
    expires=settings.MONITORING_SWEEP_SECONDS,
    soft_time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS,
    time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS + 60,
)
def monitoring_sweep_task() -> int:
    """Beat: raise the monitoring alerts of what the journal recorded since the last sweep."""
    return _logged(monitoring_sweep())


@shared_task(
    ignore_result=True,
    soft_time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS,
    time_limit=settings.CELERY_LONG_TASK_TIME_LIMIT_SECONDS + 60,
)
def monitoring_reread_task() -> int:
    """Beat, nightly: yesterday's journal read again, for movements slower to commit than the settle time."""
    return _logged(monitoring_reread_yesterday())


def _logged(result: SweepResult) -> int:
    if result.total:
        logger.warning(
            "monitoring raised %d alert(s) for staff to review: %s",
            result.total,
            ", ".join(f"{count} {rule}" for rule, count in result.raised.items() if count),
        )
    return result.total
