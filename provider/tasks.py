from celery import shared_task
from django.conf import settings

from .games.services import game_rounds_unsettled_void
from .outbound.services import outbound_debits_stranded_roll_back, outbound_deliver, outbound_due_ids


@shared_task(acks_late=True, ignore_result=True)
def outbound_deliver_task(outbound_id: int) -> str:
    """Deliver one queued credit or rollback; safe to run twice (lease + idempotency key)."""
    return outbound_deliver(outbound_id=outbound_id).status


# Beat sends one every OUTBOUND_SWEEP_SECONDS: while the workers are down they would pile up
# ahead of the deliveries (an hour's outage, 1,800 of them); one that waited longer than its
# period is overtaken by the next, so it expires.
@shared_task(ignore_result=True, expires=settings.OUTBOUND_SWEEP_SECONDS)
def outbound_sweep_task() -> int:
    """Beat: re-queue what is due or was left by a dead worker; roll back what a dead sender
    left unanswered (a debit) or unsettled (an instant round's stake). A lost task, a dead
    worker or a restarted broker delays a credit; it never loses it."""
    outbound_debits_stranded_roll_back()
    game_rounds_unsettled_void()
    due = outbound_due_ids()
    for outbound_id in due:
        outbound_deliver_task.delay(outbound_id)
    return len(due)
