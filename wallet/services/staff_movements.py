"""Staff's money movements ("Move money…" in the admin) with four eyes: over the currency's
`staff_approval_above` a deposit, withdrawal, adjustment or return of a failed payout is a
StaffMovement that moves nothing until another member of staff approves it.

An approval claims the request (pending -> approving, in its own short transaction, so a
rejection can no longer overtake it), then makes the movement through the back-office service
under the request's `movement_reference`, and records the outcome. The reference is what
makes it move once: approvals that race, or one retried after a crash left the request
`approving`, replay the first movement instead of making another. A refusal of the movement
(INSUFFICIENT_FUNDS, say) is final for that reference, so the request is `refused`.

Under the threshold, a currency's `staff_daily_allowance` bounds what one member of staff
moves alone in a UTC day, so a sum split into movements under the threshold waits too. The
movement takes its share of the day's total (one conditional UPDATE, which serialises staff's
parallel requests on the row) before it moves, and gives it back if it is refused or was
already made: a crash between the two leaves it counted, the safe way round.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.db import transaction
from django.db.models import F

from casino_platform import clock
from casino_platform.errors import DomainError, ValidationFailed
from ledger.errors import IdempotencyMismatch
from ledger.models import IdempotencyRecord

from ..errors import FourEyesRequired, StaffMovementNotAllowed, WithdrawalNotAllowed
from ..models import StaffDayTotal, StaffMovement, Wallet, Withdrawal
from ..selectors import withdrawal_get
from .backoffice import (
    BACKOFFICE_SCOPE,
    STAFF_MOVEMENT_PREFIX,
    STAFF_SUBMISSION_PREFIX,
    is_payment_reference,
    validate_adjustment,
    validate_payment_reference,
    wallet_adjust,
    wallet_deposit,
    wallet_withdraw,
)
from .common import WalletResult, validate_amount, validate_transaction_id
from .withdrawals import wallet_withdrawal_return

Status = StaffMovement.Status
REASON_MAX = StaffMovement._meta.get_field("reason").max_length or 500


def _payout_return(
    *, player_id: str, currency: str, amount: int, created_by: str, reason: str, reference: str
) -> WalletResult:
    """The withdrawal under `reference` given back whole (`amount` is what it was asked for
    at): wallet_withdrawal_return, once, whoever else returns it."""
    return wallet_withdrawal_return(
        player_id=player_id, reference=reference, created_by=created_by, reason=reason, currency=currency
    )


_SERVICES: dict[str, Callable[..., WalletResult]] = {
    StaffMovement.Kind.DEPOSIT: wallet_deposit,
    StaffMovement.Kind.WITHDRAW: wallet_withdraw,
    StaffMovement.Kind.ADJUST: wallet_adjust,
    StaffMovement.Kind.RETURN: _payout_return,
}


@dataclass(frozen=True)
class StaffMoveOutcome:
    """Either the movement made (`result`) or the request waiting for a second approval."""

    result: WalletResult | None = None
    waiting: StaffMovement | None = None
    # The request was already waiting under its reference (the same form sent twice, say).
    asked_before: bool = False


def staff_movement_needs_approval(*, wallet: Wallet, amount: int) -> bool:
    threshold = wallet.currency.staff_approval_above
    return threshold is not None and abs(amount) > threshold


def staff_money_move(
    *,
    wallet: Wallet,
    kind: str,
    amount: int,
    staff: str,
    reason: str,
    reference: str | None = None,
    submission: str | None = None,
) -> StaffMoveOutcome:
    """A deposit, withdrawal, adjustment or return of a failed payout entered by `staff` on
    `wallet`: made at once up to the currency's `staff_approval_above` and within what `staff`
    may still move alone today, recorded to wait for a second approval otherwise. `reference`:
    staff's, a payment's (a withdrawal with one is a payout the payment system sends; a
    return names the withdrawal by it, and `amount` is not read); `submission`: the form's own
    key, which only makes a movement without a reference once."""
    if kind not in _SERVICES:
        raise ValidationFailed(f"Unknown movement {kind!r}.", details={"kind": ["invalid"]})
    validate_payment_reference(reference)
    if not reference and submission:
        reference = f"{STAFF_SUBMISSION_PREFIX}{submission}"
    if kind == StaffMovement.Kind.RETURN:
        returnable = _returnable_amount(wallet, reference, staff=staff, reason=reason)
        if isinstance(returnable, StaffMoveOutcome):
            return returnable
        amount = returnable

    def move() -> WalletResult:
        return _SERVICES[kind](
            player_id=wallet.player.player_id,
            currency=wallet.currency_id,
            amount=amount,
            created_by=staff,
            reason=reason,
            reference=reference,
            **_payout_or_not(kind, reference),
        )

    # A reference used before is answered as it was (or refused as a mismatch) before any
    # threshold or allowance: a form sent again after its money moved must not be told it
    # waits for approval, nor a second request wait beside the first.
    earlier = _asked_or_moved_before(wallet, kind, amount, reference)
    if earlier is not None:
        return _answer_again(earlier, move)
    held = StaffMovement.HeldBecause
    if staff_movement_needs_approval(wallet=wallet, amount=amount):
        return _wait_or_replay(wallet, kind, amount, staff, reason, reference, held.AMOUNT, move)
    share = _day_total_take(wallet=wallet, staff=staff, amount=amount)
    if share is None:
        return _wait_or_replay(wallet, kind, amount, staff, reason, reference, held.DAY_TOTAL, move)
    try:
        result = move()
    except DomainError:
        # Refused (or bad input): nothing moved, so nothing counts. Any other error leaves
        # the share taken: the movement may have been made.
        _day_total_give_back(share)
        raise
    if result.replayed:
        _day_total_give_back(share)  # counted when it was made
    return StaffMoveOutcome(result=result)


def _returnable_amount(wallet: Wallet, reference: str | None, *, staff: str, reason: str) -> int | StaffMoveOutcome:
    """The amount of the paid-out withdrawal of `wallet` under `reference`, which a return
    gives back (asked for under the four eyes); or, when a return would move nothing, the
    answer: the return already made, repeated. Anything else is refused from this read alone,
    never by calling the service that moves money: a withdrawal approved since the read would
    be given back on one member of staff's word. A stale refusal is corrected by asking again."""
    found = withdrawal_get(reference=reference or "", player_id=wallet.player.player_id, currency=wallet.currency_id)
    if found.status == Withdrawal.Status.APPROVED:
        return found.amount
    if found.status == Withdrawal.Status.RETURNED:  # final: the service only repeats its answer
        return StaffMoveOutcome(
            result=_payout_return(
                player_id=wallet.player.player_id,
                currency=wallet.currency_id,
                amount=found.amount,
                created_by=staff,
                reason=reason,
                reference=found.reference,
            )
        )
    raise WithdrawalNotAllowed(
        f"Withdrawal {found.reference!r} is {found.status}: it cannot be returned.", details={"status": found.status}
    )


def _payout_or_not(kind: str, reference: str | None) -> dict[str, bool]:
    """Staff's withdrawal without a payment's reference is no payout for the payment system to
    send (nor one to "return"): the platform's key only makes it once."""
    if kind == StaffMovement.Kind.WITHDRAW:
        return {"record_withdrawal": is_payment_reference(reference)}
    return {}


@dataclass(frozen=True)
class _Share:
    """What a movement counted into a staff day total (`pk`), to give back if it is refused."""

    pk: int | None = None
    size: int = 0


def _day_total_take(*, wallet: Wallet, staff: str, amount: int) -> _Share | None:
    """Counts `amount` into staff's total for today if it stays within the currency's
    allowance (nothing to count without one); None when it would go over it."""
    allowance = wallet.currency.staff_daily_allowance
    if allowance is None:
        return _Share()
    size = abs(amount) if type(amount) is int else 0  # bad input is refused by the movement itself
    row, _ = StaffDayTotal.objects.get_or_create(staff=staff, currency_id=wallet.currency_id, day=clock.now().date())
    # Under READ COMMITTED a racing request waits for the row lock and re-reads `moved`:
    # together they never pass the allowance.
    took = StaffDayTotal.objects.filter(pk=row.pk, moved__lte=allowance - size).update(moved=F("moved") + size)
    return _Share(row.pk, size) if took else None


def _day_total_give_back(share: _Share) -> None:
    if share.pk is not None and share.size:
        StaffDayTotal.objects.filter(pk=share.pk).update(moved=F("moved") - share.size)


# A movement made under the reference (its idempotency key is there): answered by replaying it.
_MOVED: Literal["moved"] = "moved"


def _asked_or_moved_before(
    wallet: Wallet, kind: str, amount: int, reference: str | None
) -> StaffMovement | Literal["moved"] | None:
    """The request still waiting under `reference`, if this one is the same (a different one
    under it is refused, as a movement made under it would be); or _MOVED when a movement was
    made under it; or None, a reference not used before."""
    if reference is None:
        return None
    earlier = (
        StaffMovement.objects.filter(reference=reference, status__in=(Status.PENDING, Status.APPROVING))
        .order_by("pk")
        .first()
    )
    if earlier is not None and (earlier.wallet_id, earlier.kind, earlier.amount) != (wallet.pk, kind, amount):
        raise IdempotencyMismatch(
            f"Reference {reference!r} already names staff movement {earlier.pk}, waiting for approval, "
            f"with another wallet, kind or amount.",
            details={"staff_movement": earlier.pk},
        )
    if earlier is not None:
        return earlier
    if kind == StaffMovement.Kind.RETURN:
        return None  # the reference is the withdrawal's, whose own record is no return made
    return _MOVED if IdempotencyRecord.objects.filter(scope=BACKOFFICE_SCOPE, key=reference).exists() else None


def _answer_again(earlier: StaffMovement | Literal["moved"], move: Callable[[], WalletResult]) -> StaffMoveOutcome:
    if isinstance(earlier, StaffMovement):
        return StaffMoveOutcome(waiting=earlier, asked_before=True)
    return StaffMoveOutcome(result=move())  # a replay


def _wait_or_replay(
    wallet: Wallet,
    kind: str,
    amount: int,
    staff: str,
    reason: str,
    reference: str | None,
    held_because: str,
    move: Callable[[], WalletResult],
) -> StaffMoveOutcome:
    """The request recorded to wait, or, when the same reference moved or was asked for
    while this one was on its way (a double click), that one's answer."""
    with transaction.atomic():
        # Under the wallet's lock, which a movement on it holds until it commits: a post of
        # the same form that raced this one has committed its movement, or its request, and
        # is found below.
        Wallet.objects.select_for_update(no_key=True).filter(pk=wallet.pk).first()
        earlier = _asked_or_moved_before(wallet, kind, amount, reference)
        if earlier is None:
            return StaffMoveOutcome(waiting=_wait(wallet, kind, amount, staff, reason, reference, held_because))
    # Outside the lock's transaction: a replay runs in a transaction of its own.
    return _answer_again(earlier, move)


def _wait(
    wallet: Wallet, kind: str, amount: int, staff: str, reason: str, reference: str | None, held_because: str
) -> StaffMovement:
    # The checks the movement would make of its input, now rather than at approval.
    if kind == StaffMovement.Kind.ADJUST:
        validate_adjustment(amount)
    else:
        validate_amount(amount, minimum=1)
    if not reason.strip():
        raise ValidationFailed("Say why: a back-office movement needs a reason.", details={"reason": ["required"]})
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"A reason is at most {REASON_MAX} characters.", details={"reason": ["too long"]})
    if reference is not None:
        validate_transaction_id(reference, "reference")  # made a key only at approval
    return StaffMovement.objects.create(
        wallet=wallet,
        kind=kind,
        amount=amount,
        reference=reference or "",
        reason=reason,
        requested_by=staff,
        requested_at=clock.now(),
        held_because=held_because,
    )


def staff_movement_approve(*, movement_id: int, staff: str, reason: str) -> WalletResult:
    """Another member of staff lets the movement go: it moves once, whoever else approves it."""
    _require_reason(reason)
    with transaction.atomic(durable=True):
        movement = _locked(movement_id)
        if movement.requested_by == staff:
            raise FourEyesRequired(
                f"{staff} asked for this movement: another member of staff approves it.",
                details={"requested_by": movement.requested_by},
            )
        if movement.status not in (Status.PENDING, Status.APPROVING):
            raise _not_allowed(movement, "approved")
        # Refused before the claim, so that the movement stays pending (it can be approved once
        # the currency is enabled again, or rejected): a refusal for the input after the claim
        # is not final, and left it approving, which no one may reject. (A currency disabled
        # between this check and the movement still leaves it so: a narrower window.)
        money_in = movement.kind == StaffMovement.Kind.DEPOSIT or (
            movement.kind == StaffMovement.Kind.ADJUST and movement.amount > 0
        )
        # Money may still leave a wallet whose currency was disabled (paying out a retired one),
        # and a failed payout come back to it (the player's own money).
        if money_in and not movement.wallet.currency.is_enabled:
            raise ValidationFailed(
                f"Currency {movement.wallet.currency_id} is not enabled: approve this once it is, or reject it.",
                details={"currency": ["not enabled"]},
            )
        if movement.status == Status.PENDING:
            movement.status, movement.decided_by, movement.decided_at = Status.APPROVING, staff, clock.now()
            movement.decision_memo = reason
            movement.save(update_fields=["status", "decided_by", "decided_at", "decision_memo"])
        # else: an approval that did not finish (a crash, a timeout); this one finishes it.
    wallet = movement.wallet
    # Staff's own, or one of this request's: however many approvals race, it moves once.
    reference = movement.reference or f"{STAFF_MOVEMENT_PREFIX}{movement.pk}"
    try:
        result = _SERVICES[movement.kind](
            player_id=wallet.player.player_id,
            currency=wallet.currency_id,
            amount=movement.amount,
            created_by=movement.requested_by,
            reason=f"{movement.reason} (approved by {movement.decided_by})",
            reference=reference,
            **_payout_or_not(movement.kind, reference),
        )
    except DomainError as exc:
        if not exc.retryable and not isinstance(exc, ValidationFailed):
            # The refusal is the reference's answer for good: the request is over.
            StaffMovement.objects.filter(pk=movement.pk, status=Status.APPROVING).update(
                status=Status.REFUSED, decision_memo=f"{exc.code}: {exc.message}"[:500]
            )
        raise
    StaffMovement.objects.filter(pk=movement.pk, status=Status.APPROVING).update(
        status=Status.APPROVED, journal_id=int(result.platform_transaction_id or 0) or None
    )
    return result


def staff_movement_reject(*, movement_id: int, staff: str, reason: str) -> StaffMovement:
    """Staff refuse a movement waiting for approval (its requester may take it back): nothing moves."""
    _require_reason(reason)
    with transaction.atomic(durable=True):
        movement = _locked(movement_id)
        if movement.status != Status.PENDING:
            raise _not_allowed(movement, "rejected")
        movement.status, movement.decided_by, movement.decided_at = Status.REJECTED, staff, clock.now()
        movement.decision_memo = reason
        movement.save(update_fields=["status", "decided_by", "decided_at", "decision_memo"])
    return movement


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ValidationFailed("Say why: a decision needs a reason.", details={"reason": ["required"]})


def _locked(movement_id: int) -> StaffMovement:
    try:
        return (
            StaffMovement.objects.select_for_update(of=("self",))
            .select_related("wallet__player", "wallet__currency")
            .get(pk=movement_id)
        )
    except StaffMovement.DoesNotExist:
        raise StaffMovementNotAllowed(f"No staff movement {movement_id}.", details={"status": None}) from None


def _not_allowed(movement: StaffMovement, verb: str) -> StaffMovementNotAllowed:
    return StaffMovementNotAllowed(
        f"Staff movement {movement.pk} is {movement.status}: it cannot be {verb}.", details={"status": movement.status}
    )
