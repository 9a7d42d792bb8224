"""What our games do to a partner's wallet.

- Debits are real-time: the player waits; a refusal refuses the bet. When the outcome is
  unknown (timeout, dropped connection), a rollback of that debit is queued at once and
  retried until the partner answers; a `tombstone` answer is success.
- Credits (and those rollbacks) are an outbox: `outbound_credit_enqueue` writes them in the
  transaction that settles the round; `outbound_deliver` sends them, retrying with capped
  exponential backoff and jitter, forever by default, in order per player. The transaction id
  is the partner's idempotency key, so a redelivery never pays twice.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q

from casino_platform import clock
from casino_platform.outbox import delay_after_commit, retry_delay_seconds

from ..models import GameRound, OutboundAttempt, OutboundTransaction, PartnerCasino, PartnerPlayer
from .client import OutcomeUnknown, WalletAnswer, WalletClient

logger = logging.getLogger(__name__)

OUTBOX_KINDS = (OutboundTransaction.Kind.CREDIT, OutboundTransaction.Kind.ROLLBACK)


def new_transaction_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class DebitRefused(Exception):
    """The partner refused the debit: the bet does not happen. Carries the partner's code."""

    def __init__(self, code: str, message: str, *, retryable: bool = False):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.retryable = code, message, retryable


@dataclass(frozen=True)
class DebitAccepted:
    outbound: OutboundTransaction
    balance: int


def _record_attempt(
    outbound: OutboundTransaction, *, answer: WalletAnswer | None = None, unknown: OutcomeUnknown | None = None
) -> None:
    OutboundAttempt.objects.create(
        transaction=outbound,
        duration_ms=answer.duration_ms if answer else (unknown.duration_ms if unknown else 0),
        http_status=answer.http_status if answer else (unknown.http_status if unknown else None),
        error_code=answer.code if answer else "OUTCOME_UNKNOWN",
        response_body=answer.raw.decode(errors="replace")[:4000] if answer else "",
        error=str(unknown)[:2000] if unknown else "",
    )


def _payload(outbound: OutboundTransaction, session_token: str = "") -> tuple[str, dict]:
    if outbound.kind == OutboundTransaction.Kind.ROLLBACK:
        return "rollback", {
            "transaction_id": outbound.transaction_id,
            "reference_transaction_id": outbound.reference_transaction_id,
            "player_id": outbound.player.partner_player_id,
            "round_id": outbound.round.round_id,
        }
    # A debit names the player by the session it bets in; a credit by id (paid after it ends).
    if outbound.kind == OutboundTransaction.Kind.DEBIT:
        endpoint, who = "debit", {"session_token": session_token}
    else:
        endpoint, who = "credit", {"player_id": outbound.player.partner_player_id}
    return endpoint, {
        "transaction_id": outbound.transaction_id,
        **who,
        "round_id": outbound.round.round_id,
        "game_id": outbound.round.game_id,
        "amount": outbound.amount,
        "currency": outbound.currency,
        "reason": outbound.reason,
        "round_closed": outbound.round_closed,
    }


def outbound_debit(
    *,
    partner: PartnerCasino,
    player: PartnerPlayer,
    round_obj: GameRound,
    amount: int,
    reason: str,
    session_token: str,
    round_closed: bool = False,
    client: WalletClient | None = None,
) -> DebitAccepted:
    """Debit the partner now. Raises DebitRefused when the partner says no or the outcome is
    unknown (then a rollback is already queued, so the player is never charged for nothing)."""
    outbound = OutboundTransaction.objects.create(
        partner=partner,
        player=player,
        round=round_obj,
        transaction_id=new_transaction_id("d"),
        kind=OutboundTransaction.Kind.DEBIT,
        reason=reason,
        amount=amount,
        currency=round_obj.currency,
        round_closed=round_closed,
        status=OutboundTransaction.Status.SENDING,
        attempts=1,
    )
    endpoint, payload = _payload(outbound, session_token)
    try:
        answer = (client or WalletClient(partner)).call(endpoint, payload)
    except OutcomeUnknown as exc:
        _record_attempt(outbound, unknown=exc)
        with transaction.atomic():
            outbound.status = OutboundTransaction.Status.UNKNOWN
            outbound.last_error_code, outbound.last_error = "OUTCOME_UNKNOWN", str(exc)[:2000]
            outbound.completed_at = clock.now()
            outbound.save(update_fields=["status", "last_error_code", "last_error", "completed_at"])
            outbound_rollback_enqueue(debit=outbound)
        raise DebitRefused(
            "OUTCOME_UNKNOWN", "The casino did not answer in time; the bet was cancelled.", retryable=True
        ) from exc
    _record_attempt(outbound, answer=answer)
    outbound.completed_at = clock.now()
    if answer.accepted:
        outbound.status = OutboundTransaction.Status.SUCCEEDED
        outbound.partner_balance = answer.body.get("balance")
        outbound.partner_transaction_id = str(answer.body.get("platform_transaction_id", ""))
        outbound.save(update_fields=["status", "partner_balance", "partner_transaction_id", "completed_at"])
        return DebitAccepted(outbound, int(answer.body["balance"]))
    outbound.status = OutboundTransaction.Status.FAILED
    outbound.last_error_code, outbound.last_error = answer.code, str(answer.body.get("message", ""))[:2000]
    outbound.save(update_fields=["status", "last_error_code", "last_error", "completed_at"])
    raise DebitRefused(answer.code, str(answer.body.get("message", "")), retryable=answer.retryable)


def outbound_credit_enqueue(
    *, round_obj: GameRound, amount: int, reason: str, round_closed: bool = True
) -> OutboundTransaction:
    """Queue a credit in the caller's transaction (the one that settles the round); it is
    sent after commit and retried until the partner accepts it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbound_credit_enqueue() must run inside the transaction that settles the round")
    outbound = OutboundTransaction.objects.create(
        partner_id=round_obj.partner_id,
        player_id=round_obj.player_id,
        round=round_obj,
        transaction_id=new_transaction_id("c"),
        kind=OutboundTransaction.Kind.CREDIT,
        reason=reason,
        amount=amount,
        currency=round_obj.currency,
        round_closed=round_closed,
        next_attempt_at=clock.now(),
    )
    _schedule_after_commit(outbound.pk)
    return outbound


def outbound_rollback_enqueue(*, debit: OutboundTransaction) -> OutboundTransaction:
    """Queue the rollback of a debit whose outcome is unknown (or that the game cancels)."""
    outbound = OutboundTransaction.objects.create(
        partner_id=debit.partner_id,
        player_id=debit.player_id,
        round_id=debit.round_id,
        transaction_id=new_transaction_id("rb"),
        kind=OutboundTransaction.Kind.ROLLBACK,
        amount=debit.amount,
        currency=debit.currency,
        reference_transaction_id=debit.transaction_id,
        next_attempt_at=clock.now(),
    )
    _schedule_after_commit(outbound.pk)
    return outbound


def _schedule_after_commit(outbound_id: int) -> None:
    from ..tasks import outbound_deliver_task  # the tasks module imports this one

    delay_after_commit(outbound_deliver_task, outbound_id, what="outbound")


def _earlier_undelivered_exists(outbound: OutboundTransaction) -> bool:
    """Order per player: a credit waits for every earlier queued credit or rollback."""
    return OutboundTransaction.objects.filter(
        player_id=outbound.player_id,
        kind__in=OUTBOX_KINDS,
        id__lt=outbound.pk,
        status__in=[OutboundTransaction.Status.PENDING, OutboundTransaction.Status.SENDING],
    ).exists()


@dataclass(frozen=True)
class DeliveryResult:
    outbound_id: int
    status: str
    retry_in: float | None = None


def outbound_deliver(*, outbound_id: int, client: WalletClient | None = None) -> DeliveryResult:
    """Send one queued credit or rollback if it is due and first in its player's line.
    Safe to run twice and concurrently: a lease marks who is sending it."""
    now = clock.now()
    lease = timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
    with transaction.atomic():
        outbound = (
            # Only this row: locking the joined partner row too made every concurrent delivery
            # to the same partner skip each other as "busy" (seen in bench/redelivery.py).
            OutboundTransaction.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("partner", "player", "round")
            .filter(pk=outbound_id)
            .first()
        )
        if outbound is None:
            return DeliveryResult(outbound_id, "busy")
        leased = (
            outbound.status == OutboundTransaction.Status.SENDING
            and outbound.lease_until
            and outbound.lease_until > now
        )
        if outbound.status not in (OutboundTransaction.Status.PENDING, OutboundTransaction.Status.SENDING) or leased:
            return DeliveryResult(outbound_id, outbound.status)
        if outbound.next_attempt_at and outbound.next_attempt_at > now:
            return DeliveryResult(outbound_id, "not_due", (outbound.next_attempt_at - now).total_seconds())
        if _earlier_undelivered_exists(outbound):
            return DeliveryResult(outbound_id, "waiting_for_earlier")
        outbound.status = OutboundTransaction.Status.SENDING
        outbound.lease_until = now + lease
        outbound.attempts += 1
        outbound.save(update_fields=["status", "lease_until", "attempts"])
    endpoint, payload = _payload(outbound)
    try:
        answer = (client or WalletClient(outbound.partner)).call(endpoint, payload)
    except OutcomeUnknown as exc:
        _record_attempt(outbound, unknown=exc)
        return _schedule_retry(outbound, "OUTCOME_UNKNOWN", str(exc))
    _record_attempt(outbound, answer=answer)
    if answer.accepted:
        return _succeeded(outbound, answer)
    if answer.retryable or answer.http_status >= 500:
        return _schedule_retry(outbound, answer.code, str(answer.body.get("message", "")))
    return _failed(outbound, answer)


def _succeeded(outbound: OutboundTransaction, answer: WalletAnswer) -> DeliveryResult:
    with transaction.atomic():
        OutboundTransaction.objects.filter(pk=outbound.pk).update(
            status=OutboundTransaction.Status.SUCCEEDED,
            completed_at=clock.now(),
            lease_until=None,
            partner_balance=answer.body.get("balance"),
            last_error_code="",
            last_error="",
            partner_transaction_id=str(answer.body.get("platform_transaction_id", "")),
            partner_status=str(answer.body.get("status", "")),
        )
        if outbound.kind == OutboundTransaction.Kind.ROLLBACK:
            GameRound.objects.filter(pk=outbound.round_id, status=GameRound.Status.OPEN).update(
                status=GameRound.Status.ROLLED_BACK, settled_at=clock.now()
            )
        # The next in this player's line may have been waiting for this one.
        following = (
            OutboundTransaction.objects.filter(
                player_id=outbound.player_id,
                kind__in=OUTBOX_KINDS,
                id__gt=outbound.pk,
                status=OutboundTransaction.Status.PENDING,
            )
            .order_by("id")
            .values_list("pk", flat=True)
            .first()
        )
        if following is not None:
            _schedule_after_commit(following)
    return DeliveryResult(outbound.pk, OutboundTransaction.Status.SUCCEEDED)


def _schedule_retry(outbound: OutboundTransaction, code: str, message: str) -> DeliveryResult:
    delay = retry_delay_seconds(outbound.attempts)
    flag = outbound.attempts >= settings.OUTBOUND_FLAG_AFTER_ATTEMPTS and outbound.flagged_at is None
    updates: dict = {
        "status": OutboundTransaction.Status.PENDING,
        "lease_until": None,
        "next_attempt_at": clock.now() + timedelta(seconds=delay),
        "last_error_code": code,
        "last_error": message[:2000],
    }
    if flag:
        updates["flagged_at"] = clock.now()
    # No countdown task: the beat sweep sends it once due. Thousands of delayed (ETA)
    # tasks would sit in the worker's memory and take the prefetch slots that the next
    # credits in line need (measured: bench/redelivery.py, docs/performance.md).
    OutboundTransaction.objects.filter(pk=outbound.pk).update(**updates)
    if flag:
        logger.error(
            "outbound %s %s still failing after %d attempts: %s",
            outbound.kind,
            outbound.transaction_id,
            outbound.attempts,
            code,
        )
    return DeliveryResult(outbound.pk, "retry", delay)


def _failed(outbound: OutboundTransaction, answer: WalletAnswer) -> DeliveryResult:
    # A rollback answered "tombstone" is a 200 and never lands here; a refusal of a credit
    # or rollback is money the partner would not move: staff must look.
    OutboundTransaction.objects.filter(pk=outbound.pk).update(
        status=OutboundTransaction.Status.FAILED,
        completed_at=clock.now(),
        lease_until=None,
        last_error_code=answer.code,
        last_error=str(answer.body.get("message", ""))[:2000],
        flagged_at=clock.now(),
    )
    logger.error(
        "outbound %s %s refused by %s: %s", outbound.kind, outbound.transaction_id, outbound.partner.name, answer.code
    )
    return DeliveryResult(outbound.pk, OutboundTransaction.Status.FAILED)


def outbound_due_ids(*, limit: int = 1000) -> list[int]:
    """For the beat sweep: the head of each player's line that needs a task now, marked so
    later sweeps do not queue it again while that task waits in the broker (unmarked, every
    sweep re-queued every waiting head and the backlog fed itself: bench/redelivery.py).

    A head needs a task when it is due (a retry, or a first attempt whose own task may be
    lost) and no sweep queued it within OUTBOUND_LEASE_SECONDS, or when its sender's lease
    ran out (a dead worker). Only heads: the rest follow each success in order."""
    now = clock.now()
    undelivered = OutboundTransaction.objects.filter(
        kind__in=OUTBOX_KINDS,
        status__in=[OutboundTransaction.Status.PENDING, OutboundTransaction.Status.SENDING],
    )
    heads = undelivered.values("player_id").annotate(head=Min("id")).values("head")
    with transaction.atomic():
        due = list(
            undelivered.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=heads)
            .filter(
                Q(status=OutboundTransaction.Status.PENDING, next_attempt_at__lte=now)
                & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
                | Q(status=OutboundTransaction.Status.SENDING, lease_until__lte=now)
            )
            .order_by("id")
            .values_list("pk", flat=True)[:limit]
        )
        # On a pending row the lease means "a task for it is queued" until then.
        OutboundTransaction.objects.filter(pk__in=due, status=OutboundTransaction.Status.PENDING).update(
            lease_until=now + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
        )
    return due


def outbound_retry_now(*, ids: list[int]) -> list[int]:
    """Staff: attempt these pending (or flagged) deliveries now instead of at their next slot."""
    due = list(
        OutboundTransaction.objects.filter(
            pk__in=ids,
            kind__in=OUTBOX_KINDS,
            status=OutboundTransaction.Status.PENDING,
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        OutboundTransaction.objects.filter(pk__in=due).update(next_attempt_at=clock.now())
        for outbound_id in due:
            _schedule_after_commit(outbound_id)
    return due
