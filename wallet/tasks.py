from celery import shared_task

from .services.webhooks import withdrawal_event_deliver, withdrawal_events_due_ids


@shared_task(acks_late=True, ignore_result=True)
def withdrawal_event_deliver_task(event_id: int) -> str:
    """Send one withdrawal event to the casino's payment system; safe to run twice (lease)."""
    return withdrawal_event_deliver(event_id=event_id)


@shared_task(ignore_result=True)
def withdrawal_event_sweep_task() -> int:
    """Beat: queue the events whose retry is due or whose task was lost (a dead worker, a
    restarted broker). An event waits longer then; it is never lost."""
    due = withdrawal_events_due_ids()
    for event_id in due:
        withdrawal_event_deliver_task.delay(event_id)
    return len(due)
