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
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import Min, Q

from casino_platform import clock
from casino_platform.outbox import delay_after_commit, retry_delay_seconds, storable_text

from ..models import GameRound, OutboundAttempt, OutboundTransaction, PartnerCasino, PartnerPlayer
from .client import OutcomeUnknown, WalletAnswer, WalletClient

logger = logging.getLogger(__name__)

OUTBOX_KINDS = (OutboundTransaction.Kind.CREDIT, OutboundTransaction.Kind.ROLLBACK)

# Refusals of a call the partner did not process: our signature, identity or address, or the
# partner's switch for us. A credit or rollback so refused stays in its player's line and is
# sent again, same transaction_id, with the backoff and flag of any failure, as
# docs/provider-guide.md section 5 tells providers to do: otherwise money owed would wait for
# staff, with no way to send it again once the partner is fixed.
NOT_PROCESSED_CODES = frozenset(
    {"INVALID_SIGNATURE", "UNKNOWN_PROVIDER", "STALE_TIMESTAMP", "IP_NOT_ALLOWED", "PROVIDER_DISABLED"}
)


def new_transaction_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class DebitRefused(Exception):
    """The partner refused the debit: the bet does not happen. Carries the partner's code."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, http_status: int = 409):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.retryable = code, message, retryable
        # The partner's own status for its refusal (402, 401, 403, ...), for our game page.
        self.http_status = http_status


@dataclass(frozen=True)
class DebitAccepted:
    outbound: OutboundTransaction
    balance: int


def _record_attempt(
    outbound: OutboundTransaction, *, answer: WalletAnswer | None = None, error: Exception | None = None
) -> None:
    """An attempt and what came of it: the partner's answer, or no trustworthy answer
    (OutcomeUnknown), or an error of ours around the call."""
    unknown = error if isinstance(error, OutcomeUnknown) else None
    OutboundAttempt.objects.create(
        transaction=outbound,
        duration_ms=answer.duration_ms if answer else (unknown.duration_ms if unknown else 0),
        http_status=answer.http_status if answer else (unknown.http_status if unknown else None),
        error_code=storable_text(answer.code, 64) if answer else _error_code(error),
        response_body=storable_text(answer.raw.decode(errors="replace"), 4000) if answer else "",
        error=_error_text(error) if error else "",
    )


def _error_code(error: Exception | None) -> str:
    """OUTCOME_UNKNOWN: the partner gave no trustworthy answer; CLIENT_ERROR: ours failed
    around the call (a secret that no longer decrypts, timeouts requests refuses, a write)."""
    return "OUTCOME_UNKNOWN" if error is None or isinstance(error, OutcomeUnknown) else "CLIENT_ERROR"


def _error_text(error: Exception) -> str:
    text = str(error) if isinstance(error, OutcomeUnknown) else f"{type(error).__name__}: {error}"
    return storable_text(text, 2000)


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
    except Exception as exc:
        # Not only OutcomeUnknown: whatever failed may have failed after the request left.
        _debit_outcome_unknown(outbound, exc)
        raise DebitRefused(
            "OUTCOME_UNKNOWN",
            "The casino did not answer in time; the bet was cancelled.",
            retryable=True,
            http_status=503,
        ) from exc
    _record_attempt(outbound, answer=answer)
    if answer.accepted:
        taken = _debit_settle(
            outbound,
            status=OutboundTransaction.Status.SUCCEEDED,
            partner_balance=answer.body["balance"],
            partner_transaction_id=storable_text(answer.body.get("platform_transaction_id", ""), 128),
        )
        if not taken:
            raise DebitRefused(
                "OUTCOME_UNKNOWN",
                "The casino answered too late; the bet was cancelled.",
                retryable=True,
                http_status=503,
            )
        outbound.status = OutboundTransaction.Status.SUCCEEDED
        return DebitAccepted(outbound, answer.body["balance"])
    _debit_settle(
        outbound,
        status=OutboundTransaction.Status.FAILED,
        last_error_code=storable_text(answer.code, 64),
        last_error=storable_text(answer.body.get("message", ""), 2000),
    )
    raise DebitRefused(
        answer.code,
        str(answer.body.get("message", "")),
        retryable=answer.retryable,
        http_status=answer.http_status if 400 <= answer.http_status < 600 else 409,
    )


def _debit_settle(outbound: OutboundTransaction, **fields) -> bool:
    """The debit's answer, written only while it is still being sent: a debit whose sender
    took too long was meanwhile declared unknown and its rollback queued
    (outbound_debits_stranded_roll_back), and that stands. False then."""
    return bool(
        OutboundTransaction.objects.filter(pk=outbound.pk, status=OutboundTransaction.Status.SENDING).update(
            completed_at=clock.now(), **fields
        )
    )


def _debit_outcome_unknown(outbound: OutboundTransaction, error: Exception) -> None:
    """The partner may or may not have taken the stake: roll it back (a `tombstone` answer
    means it never arrived, and the partner will refuse it if it does)."""
    _record_attempt(outbound, error=error)
    with transaction.atomic():
        if _debit_settle(
            outbound,
            status=OutboundTransaction.Status.UNKNOWN,
            last_error_code=_error_code(error),
            last_error=_error_text(error),
        ):
            outbound_rollback_enqueue(debit=outbound)
    if not isinstance(error, OutcomeUnknown):
        logger.error("outbound debit %s failed around the call", outbound.transaction_id, exc_info=error)


def stranded_since(partner: PartnerCasino, began: datetime) -> datetime:
    """When a call to `partner` begun at `began` can no longer be in flight: past its
    timeouts, and OUTBOUND_STRANDED_AFTER_SECONDS more for a partner trickling its answer
    (requests' read timeout is per read)."""
    return began + timedelta(
        seconds=settings.OUTBOUND_STRANDED_AFTER_SECONDS,
        milliseconds=partner.connect_timeout_ms + partner.read_timeout_ms,
    )


def outbound_debits_stranded_roll_back(*, limit: int = 100) -> int:
    """For the beat sweep: debits still marked as being sent well after their partner's
    timeouts, whose sender died mid-call (a worker killed or respawned) or failed before it
    could write the answer. Their outcome is unknown, so they are rolled back as an unknown
    outcome is at once, and their round ends refused. Returns how many."""
    now = clock.now()
    with transaction.atomic():
        candidates = list(
            OutboundTransaction.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("partner")
            .filter(kind=OutboundTransaction.Kind.DEBIT, status=OutboundTransaction.Status.SENDING)
            .filter(created_at__lt=now - timedelta(seconds=settings.OUTBOUND_STRANDED_AFTER_SECONDS))
            .order_by("id")[:limit]
        )
        stranded = [debit for debit in candidates if stranded_since(debit.partner, debit.created_at) < now]
        for debit in stranded:
            debit.status, debit.completed_at = OutboundTransaction.Status.UNKNOWN, now
            debit.last_error_code = "OUTCOME_UNKNOWN"
            debit.last_error = "No answer was recorded: the sender stopped during the call."
            debit.save(update_fields=["status", "completed_at", "last_error_code", "last_error"])
        # Every round before any player, as the game's settlement locks a round then its
        # player: round A, the player, then round B deadlocked with B's settlement waiting for
        # that player. Then the players in the order of their keys, as every sweep takes them.
        GameRound.objects.filter(pk__in=[debit.round_id for debit in stranded], status=GameRound.Status.OPEN).update(
            status=GameRound.Status.REFUSED, settled_at=now
        )
        for debit in sorted(stranded, key=lambda debit: (debit.player_id, debit.pk)):
            outbound_rollback_enqueue(debit=debit)
    for debit in stranded:
        logger.error("outbound debit %s stranded while being sent: rolled back", debit.transaction_id)
    return len(stranded)


def outbound_credit_enqueue(
    *, round_obj: GameRound, amount: int, reason: str, round_closed: bool = True
) -> OutboundTransaction:
    """Queue a credit in the caller's transaction (the one that settles the round); it is
    sent after commit and retried until the partner accepts it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbound_credit_enqueue() must run inside the transaction that settles the round")
    _line_up(round_obj.player_id)
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
    _line_up(debit.player_id)
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


def _line_up(player_id: int) -> None:
    """Take the player's place in line: their row stays locked until this transaction ends.
    A player's line is the order of the rows' ids, and an id is drawn at the insert, not at
    the commit: two rounds settled side by side could otherwise commit in the other order,
    and the later-numbered credit, seeing no earlier one yet, would go first."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a credit or rollback is queued inside the transaction that decides it")
    # NO KEY: the player's new rounds and debits (which reference the row, taking KEY SHARE)
    # need not wait behind a settlement; only another place in this line does.
    PartnerPlayer.objects.select_for_update(no_key=True).filter(pk=player_id).values_list("pk").get()


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
        # Never shorter than the call's timeouts: a partner given 40 s to answer was sent the
        # same credit again by the next sweep while the first call still waited. (A partner
        # trickling its answer past them is fenced by the attempt count, and answers the
        # resend from its idempotency store.)
        call_may_last = timedelta(milliseconds=outbound.partner.connect_timeout_ms + outbound.partner.read_timeout_ms)
        outbound.lease_until = now + max(lease, call_may_last + timedelta(seconds=1))
        outbound.attempts += 1
        outbound.save(update_fields=["status", "lease_until", "attempts"])
    endpoint, payload = _payload(outbound)
    try:
        answer = (client or WalletClient(outbound.partner)).call(endpoint, payload)
    except Exception as exc:
        # Not only OutcomeUnknown: an error of ours (a secret that no longer decrypts, a
        # timeout requests refuses) is retried and flagged like the partner's, rather than
        # leaving the row to be re-sent by the sweep, unflagged, forever.
        _record_attempt(outbound, error=exc)
        if not isinstance(exc, OutcomeUnknown):
            logger.error("outbound %s %s failed around the call", outbound.kind, outbound.transaction_id, exc_info=exc)
        return _schedule_retry(outbound, _error_code(exc), _error_text(exc))
    _record_attempt(outbound, answer=answer)
    if answer.accepted:
        try:
            return _succeeded(outbound, answer)
        except (DataError, OverflowError) as exc:
            # An acceptance the row cannot hold: retried and flagged like a failed call, rather
            # than left `sending`, unflagged, at the head of the player's line, holding back
            # every later credit of theirs while the sweep sends it again for ever.
            logger.error("outbound %s %s: its acceptance could not be recorded", outbound.kind, outbound.transaction_id)
            return _schedule_retry(outbound, "CLIENT_ERROR", _error_text(exc))
    if answer.retryable or answer.http_status >= 500 or answer.code in NOT_PROCESSED_CODES:
        return _schedule_retry(outbound, answer.code, str(answer.body.get("message", "")))
    return _failed(outbound, answer)


def _held(outbound: OutboundTransaction):
    """The row while this sender still holds it. A sender that outlived its lease (a partner
    trickling its answer past the read timeout, which requests applies per read) was replaced
    by another; what the replacement writes stands, not what the late one learns."""
    return OutboundTransaction.objects.filter(
        pk=outbound.pk, status=OutboundTransaction.Status.SENDING, lease_until=outbound.lease_until
    )


def _succeeded(outbound: OutboundTransaction, answer: WalletAnswer) -> DeliveryResult:
    with transaction.atomic():
        written = _held(outbound).update(
            status=OutboundTransaction.Status.SUCCEEDED,
            completed_at=clock.now(),
            lease_until=None,
            partner_balance=answer.body["balance"],
            last_error_code="",
            last_error="",
            flagged_at=None,  # delivered: nothing left for staff to look at
            partner_transaction_id=storable_text(answer.body.get("platform_transaction_id", ""), 128),
            partner_status=storable_text(answer.body.get("status", ""), 32),
        )
        if not written:
            return DeliveryResult(outbound.pk, "superseded")
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
        "last_error_code": storable_text(code, 64),
        "last_error": storable_text(message, 2000),
    }
    if flag:
        updates["flagged_at"] = clock.now()
    # No countdown task: the beat sweep sends it once due. Thousands of delayed (ETA)
    # tasks would sit in the worker's memory and take the prefetch slots that the next
    # credits in line need (measured: bench/redelivery.py, docs/performance.md).
    if not _held(outbound).update(**updates):
        return DeliveryResult(outbound.pk, "superseded")
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
    # or rollback is money the partner would not move: staff must look (and may send it
    # again, same transaction_id, once the cause is fixed: outbound_retry_now).
    written = _held(outbound).update(
        status=OutboundTransaction.Status.FAILED,
        completed_at=clock.now(),
        lease_until=None,
        last_error_code=storable_text(answer.code, 64),
        last_error=storable_text(answer.body.get("message", ""), 2000),
        flagged_at=clock.now(),
    )
    if not written:
        return DeliveryResult(outbound.pk, "superseded")
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
    """Staff: attempt these credits and rollbacks now instead of at their next slot; a
    refused one (failed) goes back into its player's line, under the same transaction_id and
    payload, for when the cause at the partner is fixed. Its earlier refusal stays in the
    attempt log; a partner that stored it answers the same again, and nothing moves twice."""
    with transaction.atomic():
        due = list(
            OutboundTransaction.objects.select_for_update()
            .filter(
                pk__in=ids,
                kind__in=OUTBOX_KINDS,
                status__in=[OutboundTransaction.Status.PENDING, OutboundTransaction.Status.FAILED],
            )
            .values_list("pk", flat=True)
        )
        OutboundTransaction.objects.filter(pk__in=due).update(
            status=OutboundTransaction.Status.PENDING, next_attempt_at=clock.now(), completed_at=None
        )
        for outbound_id in due:
            _schedule_after_commit(outbound_id)
    return due
