"""Withdrawal events: the casino's payment system is told when a withdrawal's status changes,
instead of polling GET .../withdrawals/{reference} for it.

- `withdrawal_event_record` writes the event in the transaction that changes the status (a
  change that rolls back leaves no event; one that commits always has one), webhook or not:
  the feed gives it either way. Written while CASHIER_WEBHOOK_URL is empty, it is `unsent`
  and nothing sends it unless staff choose "Send now" once the URL is set.
- `withdrawal_event_deliver` POSTs it, signed with CASHIER_WEBHOOK_SECRET exactly as a
  provider signs a wallet call (contract section 1), until the receiver answers 2xx: capped
  exponential backoff with jitter, flagged for staff after OUTBOUND_FLAG_AFTER_ATTEMPTS, never
  given up. A lease makes a second worker skip an event being sent; a worker that dies leaves
  a lease the beat sweep retries after.
- Delivery is at least once and not in order: the receiver keeps the event with the highest
  `event_id` per withdrawal reference and ignores the rest (a redelivery, an older change
  arriving late). The event carries the withdrawal as it stood, so the receiver needs no call
  back; GET .../withdrawals/{reference} stays the truth.
- GET /api/v1/withdrawal-events gives the same events as a feed to catch up from
  (wallet.selectors.withdrawal_events_after).
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from rest_framework.fields import DateTimeField

from casino_platform import clock
from casino_platform.outbox import delay_after_commit, retry_delay_seconds, storable_text
from provider.signing import sign_request

from ..errors import WebhookNotSet
from ..models import Withdrawal, WithdrawalEvent

logger = logging.getLogger(__name__)

Delivery = WithdrawalEvent.Delivery
EVENT_TYPE = "withdrawal.status_changed"
UNDELIVERED = [Delivery.PENDING, Delivery.SENDING]
_datetime = DateTimeField()  # the operator API's own rendering, so an event's times read as GET's
_local = threading.local()


def withdrawal_state(withdrawal: Withdrawal) -> dict[str, Any]:
    """The withdrawal as GET /api/v1/players/{player_id}/withdrawals/{reference} answers it."""
    return {
        "reference": withdrawal.reference,
        "player_id": withdrawal.wallet.player.player_id,
        "currency": withdrawal.wallet.currency_id,
        "amount": withdrawal.amount,
        "status": withdrawal.status,
        "review_reason": withdrawal.review_reason,
        "requested_at": _datetime.to_representation(withdrawal.requested_at),
        "decided_at": _datetime.to_representation(withdrawal.decided_at) if withdrawal.decided_at else None,
        "decision_memo": withdrawal.decision_memo,
    }


def withdrawal_event_record(withdrawal: Withdrawal) -> WithdrawalEvent:
    """Inside the transaction that changed `withdrawal.status`: its event, for the feed, and
    queued for delivery once that transaction commits when a webhook is set."""
    webhook = bool(settings.CASHIER_WEBHOOK_URL)
    event = WithdrawalEvent.objects.create(
        withdrawal=withdrawal,
        status=withdrawal.status,
        withdrawal_state=withdrawal_state(withdrawal),
        created_at=clock.now(),
        delivery=Delivery.PENDING if webhook else Delivery.UNSENT,
    )
    if webhook:
        _schedule_after_commit(event.pk)
    return event


def withdrawal_event_message(event: WithdrawalEvent) -> dict[str, Any]:
    """The event as the webhook sends it and the feed (GET /api/v1/withdrawal-events) gives it."""
    return {
        "event_id": event.pk,
        "type": EVENT_TYPE,
        "created_at": _datetime.to_representation(event.created_at),
        "withdrawal": event.withdrawal_state,
    }


def withdrawal_event_body(event: WithdrawalEvent) -> bytes:
    """What is POSTed: the same bytes on every attempt (sorted keys; jsonb keeps no order)."""
    return orjson.dumps(withdrawal_event_message(event), option=orjson.OPT_SORT_KEYS)


def _schedule_after_commit(event_id: int) -> None:
    from ..tasks import withdrawal_event_deliver_task  # the tasks module imports this one

    delay_after_commit(withdrawal_event_deliver_task, event_id, what="withdrawal event")


@dataclass(frozen=True)
class _Answer:
    http_status: int | None
    error: str

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _post(body: bytes, event_id: int) -> _Answer:
    url, secret = settings.CASHIER_WEBHOOK_URL, settings.CASHIER_WEBHOOK_SECRET
    if not url or not secret:
        return _Answer(None, "CASHIER_WEBHOOK_URL or CASHIER_WEBHOOK_SECRET is not set")
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Event-Id": str(event_id),
        "X-Timestamp": timestamp,
        "X-Signature": sign_request(
            secret=secret, timestamp=timestamp, method="POST", path=urlsplit(url).path or "/", body=body
        ),
    }
    timeout = settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS
    try:
        # No redirects: a signature is over one path, and a moved endpoint is the casino's to fix.
        response = _session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except Exception as exc:
        # Not only the network's (a bad setting, the task's time limit): whatever it was goes
        # the retry's way with its reason, not left `sending` unexplained.
        return _Answer(None, storable_text(f"{type(exc).__name__}: {exc}", 500))
    error = "" if 200 <= response.status_code < 300 else storable_text(response.text, 500)
    return _Answer(response.status_code, error)


def withdrawal_event_deliver(*, event_id: int) -> str:
    """Send one event if it is due and nobody else is sending it; what happened ("delivered",
    "retry", "not_due", "sending", "unsent", "busy"). Safe to run twice and concurrently."""
    now = clock.now()
    with transaction.atomic():
        event = WithdrawalEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None:
            return "busy"
        if event.delivery in (Delivery.DELIVERED, Delivery.UNSENT):
            # Unsent: left to the feed; only staff's "Send now" puts it back in line.
            return str(event.delivery)
        if event.delivery == Delivery.SENDING and event.lease_until and event.lease_until > now:
            return str(event.delivery)
        if event.next_attempt_at and event.next_attempt_at > now:
            return "not_due"
        event.delivery = Delivery.SENDING
        event.lease_until = now + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
        event.attempts += 1
        event.save(update_fields=["delivery", "lease_until", "attempts"])
    answer = _post(withdrawal_event_body(event), event.pk)
    # Only if the lease is still ours: a worker that outlived it must not undo a later attempt.
    ours = WithdrawalEvent.objects.filter(pk=event.pk, delivery=Delivery.SENDING, attempts=event.attempts)
    if answer.delivered:
        ours.update(
            delivery=Delivery.DELIVERED,
            delivered_at=clock.now(),
            lease_until=None,
            last_http_status=answer.http_status,
            last_error="",
            flagged_at=None,  # delivered: nothing left for staff to look at
        )
        return str(Delivery.DELIVERED)
    flag = event.attempts >= settings.OUTBOUND_FLAG_AFTER_ATTEMPTS and event.flagged_at is None
    retry_at = clock.now() + timedelta(seconds=retry_delay_seconds(event.attempts))
    # No countdown task: the beat sweep sends it once due (as for outbound credits).
    updated = ours.update(
        delivery=Delivery.PENDING,
        lease_until=None,
        next_attempt_at=retry_at,
        last_http_status=answer.http_status,
        last_error=answer.error[:2000],
        **({"flagged_at": clock.now()} if flag else {}),
    )
    if flag and updated:
        logger.error(
            "withdrawal event %s (%s %s) still not delivered after %d attempts: %s",
            event.pk,
            event.withdrawal_state.get("reference"),
            event.status,
            event.attempts,
            answer.error or answer.http_status,
        )
    return "retry"


def withdrawal_events_due_ids(*, limit: int = 1000) -> list[int]:
    """For the beat sweep: undelivered events that need a task now (due, and none queued by a
    sweep within the lease; or a dead sender's lease ran out), marked as queued."""
    now = clock.now()
    lease = timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
    with transaction.atomic():
        due = list(
            WithdrawalEvent.objects.select_for_update(skip_locked=True)
            .filter(delivery__in=UNDELIVERED)
            .filter(
                Q(delivery=Delivery.PENDING)
                & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
                | Q(delivery=Delivery.SENDING, lease_until__lte=now)
            )
            .order_by("id")
            .values_list("pk", flat=True)[:limit]
        )
        # Marked queued, a dead sender's too (back to pending): the next sweeps leave them to
        # their task instead of queueing another every few seconds while the workers are down.
        WithdrawalEvent.objects.filter(pk__in=due).update(delivery=Delivery.PENDING, lease_until=now + lease)
    return due


def withdrawal_events_send_now(*, ids: list[int]) -> list[int]:
    """Staff: send these events now, delivered ones again (a receiver that lost them) and
    those written before the webhook was set; not one a worker is sending right now (its
    lease still runs)."""
    if not settings.CASHIER_WEBHOOK_URL:
        raise WebhookNotSet()
    now = clock.now()
    with transaction.atomic():
        chosen = _lock_not_being_sent(ids=ids, now=now)
        WithdrawalEvent.objects.filter(pk__in=chosen).update(
            delivery=Delivery.PENDING, next_attempt_at=now, lease_until=None
        )
        for event_id in chosen:
            _schedule_after_commit(event_id)
    return chosen


def withdrawal_events_stop_sending(*, ids: list[int]) -> list[int]:
    """Staff: stop sending these events and leave them to the feed (`unsent`): those still
    waiting after the webhook was turned off, or a receiver gone for good, which would be
    retried and flagged for ever. Not one delivered, or one a worker is sending right now."""
    now = clock.now()
    with transaction.atomic():
        chosen = _lock_not_being_sent(ids=ids, now=now, delivery__in=UNDELIVERED)
        # Attempts and the last error stay, for the record; nothing is left for staff to watch.
        WithdrawalEvent.objects.filter(pk__in=chosen).update(
            delivery=Delivery.UNSENT, next_attempt_at=None, lease_until=None, flagged_at=None
        )
    return chosen


def _lock_not_being_sent(*, ids: list[int], now: datetime, **where: Any) -> list[int]:
    """Staff's choice of events, locked in id order, less any a worker is sending right now
    (its lease still runs): staff's actions never undo an attempt in flight."""
    return list(
        WithdrawalEvent.objects.select_for_update()
        .filter(pk__in=ids, **where)
        .exclude(delivery=Delivery.SENDING, lease_until__gt=now)
        .order_by("id")
        .values_list("pk", flat=True)
    )
