"""What the platform's two outboxes share: credits to partner casinos (provider.outbound) and
withdrawal events to the payment system (wallet.services.webhooks).

Each keeps its rows in a table written in the transaction that made them, so the table, not the
broker, is the truth: a task is only a nudge, and the beat sweep of each outbox finds whatever
a nudge missed.
"""

import logging
import random

from celery import Task
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def delay_after_commit(task: Task, row_id: int, *, what: str) -> None:
    """Queue `task(row_id)` once the current transaction commits, never inside it (a worker
    would look for a row not yet visible) and never for a transaction rolled back.

    A broker that is down is logged, not raised: the row is committed and its sweep sends it.
    """

    def send() -> None:
        try:
            task.delay(row_id)
        except Exception:
            logger.warning("could not queue %s %s; the sweep will send it", what, row_id, exc_info=True)

    transaction.on_commit(send)


def storable_text(value: object, limit: int) -> str:
    """What the other side answered, fit for a text column: PostgreSQL refuses NUL in text,
    and an error body carrying one made the write of the failed attempt itself fail, leaving
    the row to be re-sent on every lease's end, unflagged and unexplained."""
    return str(value).replace("\x00", "\ufffd")[:limit]


def retry_delay_seconds(attempts: int) -> float:
    """Capped exponential backoff with full jitter in [delay/2, delay]."""
    base = settings.OUTBOUND_RETRY_BASE_SECONDS
    # The exponent stops growing long before the cap stops mattering: deliveries retry for
    # ever, and 2.0 ** 1024 (about the 1,025th attempt) overflows a float.
    delay = min(settings.OUTBOUND_RETRY_CAP_SECONDS, base * (2.0 ** min(max(0, attempts - 1), 64)))
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security
