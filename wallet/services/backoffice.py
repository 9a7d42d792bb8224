"""Back-office money movements: deposits, withdrawals and adjustments by staff, and the
cashier's through the operator API (wallet/services/cashier.py adds the player's rules)."""

import dataclasses
from collections.abc import Callable
from typing import Any

from django.db import transaction

from casino_platform import clock
from casino_platform.errors import ValidationFailed
from ledger.models import Account, JournalTransaction
from ledger.selectors import currency_get
from ledger.services import Leg, house_account_id, ledger_post
from players.models import Player
from provider.models import BACKOFFICE_CODE

from ..errors import InsufficientFunds
from ..models import Wallet, Withdrawal
from .common import (
    WalletResult,
    run_idempotent,
    validate_amount,
    validate_transaction_id,
    wallet_apply,
    wallet_get_or_create_locked,
    wallet_lock_current,
)
from .webhooks import withdrawal_event_record

BACKOFFICE_SCOPE = BACKOFFICE_CODE  # no provider may be registered under it
# The references a staff movement waiting for four eyes moves under when staff gave none
# (wallet/services/staff_movements.py): no payment may take one, or it would merge with it.
STAFF_MOVEMENT_PREFIX = "staff-movement:"
# The admin's "Move money…" form's own key for a movement staff gave no reference: it makes a
# second click (or a proxy's retry of the post) move nothing more, and is no payment's.
STAFF_SUBMISSION_PREFIX = "staff-submission:"
_PLATFORM_PREFIXES = (STAFF_MOVEMENT_PREFIX, STAFF_SUBMISSION_PREFIX)

_COUNTER_ACCOUNT: dict[str, str] = {
    JournalTransaction.Kind.DEPOSIT: Account.Kind.CASH_IN,
    JournalTransaction.Kind.WITHDRAWAL: Account.Kind.CASH_OUT,
    JournalTransaction.Kind.ADJUSTMENT: Account.Kind.ADJUSTMENTS,
}


def _move(
    *,
    kind: str,
    player_id: str,
    currency: str,
    delta: int,
    created_by: str,
    reason: str,
    reference: str | None,
    trace_id: str,
    check_player: Callable[[Player, Wallet | None], None] | None,
    counter_kind: str | None = None,
    recorded: Callable[[Wallet, JournalTransaction], str] | None = None,
    asked: dict[str, Any] | None = None,
) -> WalletResult:
    """`counter_kind` overrides the kind of the account on the other side (a withdrawal held
    for review goes to `withdrawals_pending`); `recorded(wallet, journal)` runs after the
    posting in the same transaction and returns the answer's `status`; `asked` is what else
    of the request a repeat must match."""
    if not reason.strip():
        raise ValidationFailed("Say why: a back-office movement needs a reason.", details={"reason": ["required"]})
    if not created_by:
        raise ValidationFailed("created_by is required.")

    def work() -> WalletResult:
        # Money may always leave a wallet in a currency since disabled; none may come in.
        currency_get(code=currency, enabled_only=delta > 0)
        # Every refusal comes before the first write (a missing wallet is created last), so a
        # refused movement with a reference commits its refusal and nothing else.
        player, wallet = wallet_lock_current(player_id=player_id, currency=currency)
        if check_player is not None:
            check_player(player, wallet)
        balance = wallet.balance if wallet is not None else 0
        if balance + delta < 0:
            raise InsufficientFunds(f"Balance {balance} cannot absorb {delta}.")
        wallet = wallet or wallet_get_or_create_locked(player=player, currency=currency)
        counter_id = house_account_id(kind=counter_kind or _COUNTER_ACCOUNT[kind], currency=currency)
        balance = wallet_apply(wallet=wallet, delta=delta)
        journal = ledger_post(
            kind=kind,
            legs=[Leg(wallet.account_id, delta, currency), Leg(counter_id, -delta, currency)],
            created_by=created_by,
            provider_code=BACKOFFICE_SCOPE if reference else "",
            provider_transaction_id=reference or "",
            reason=kind,
            memo=reason,
            trace_id=trace_id,
        )
        return WalletResult(
            player_id=player.player_id,
            currency=currency,
            balance=balance,
            transaction_id=reference,
            platform_transaction_id=str(journal.pk),
            status=recorded(wallet, journal) if recorded is not None else None,
        )

    if reference is None:
        with transaction.atomic(durable=True):
            return work()
    validate_transaction_id(reference, "reference")
    return run_idempotent(
        scope=BACKOFFICE_SCOPE,
        key=reference,
        operation=kind,
        payload={"player_id": player_id, "currency": currency, "delta": delta, **(asked or {})},
        trace_id=trace_id,
        work=work,
    )


def wallet_deposit(
    *,
    player_id: str,
    currency: str,
    amount: int,
    created_by: str,
    reason: str,
    reference: str | None = None,
    trace_id: str = "",
    check_player: Callable[[Player, Wallet | None], None] | None = None,
) -> WalletResult:
    """Put cash into a wallet (cash_in account -> wallet). Once per `reference` if given.
    `check_player(player, wallet)` may refuse the movement under the player's and the wallet's
    lock (the wallet is None until the first money in its currency), before anything is written."""
    validate_amount(amount, minimum=1)
    return _move(
        kind=JournalTransaction.Kind.DEPOSIT,
        player_id=player_id,
        currency=currency,
        delta=amount,
        created_by=created_by,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=check_player,
    )


def wallet_withdraw(
    *,
    player_id: str,
    currency: str,
    amount: int,
    created_by: str,
    reason: str,
    reference: str | None = None,
    trace_id: str = "",
    check_player: Callable[[Player, Wallet | None], None] | None = None,
    review_reason: str = "",
    review_asked: bool = False,
    record_withdrawal: bool = True,
) -> WalletResult:
    """Take cash out of a wallet; never below zero. With a `reference`, a Withdrawal records it
    (the answer's `status`). With a `review_reason` it waits for staff (wallet ->
    withdrawals_pending, status `pending`), otherwise it leaves at once (wallet -> cash_out,
    status `approved`); wallet/services/withdrawals.py moves it on from there. `review_asked`:
    the request itself asked for review, which a repeat must ask too. A repeat answers the
    withdrawal's status now, not the first answer's: a payment system retrying after a
    rejection or a return must not read `approved` and pay. `record_withdrawal=False`: the
    reference is only the movement's idempotency key (a staff movement's own), not a payout
    for the payment system to send, so no Withdrawal records it."""
    validate_amount(amount, minimum=1)
    if review_reason and (reference is None or not record_withdrawal):
        # A held withdrawal is found again, decided and reconciled by its reference.
        raise ValueError("A withdrawal held for review needs a reference.")

    def recorded(wallet: Wallet, journal: JournalTransaction) -> str:
        assert reference is not None
        withdrawal = Withdrawal.objects.create(
            reference=reference,
            wallet=wallet,
            amount=amount,
            status=Withdrawal.Status.PENDING if review_reason else Withdrawal.Status.APPROVED,
            review_reason=review_reason,
            requested_by=created_by,
            requested_at=journal.created_at or clock.now(),
            request_journal=journal,
        )
        withdrawal_event_record(withdrawal)
        return withdrawal.status

    result = _move(
        kind=JournalTransaction.Kind.WITHDRAWAL,
        player_id=player_id,
        currency=currency,
        delta=-amount,
        created_by=created_by,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=check_player,
        counter_kind=Account.Kind.WITHDRAWALS_PENDING if review_reason else None,
        recorded=recorded if reference is not None and record_withdrawal else None,
        # Only when asked, so the fingerprints of every other reference stay what they were.
        asked={"review": True} if review_asked else None,
    )
    if result.replayed and reference is not None and record_withdrawal:
        now = Withdrawal.objects.filter(reference=reference).values_list("status", flat=True).first()
        result = dataclasses.replace(result, status=now or result.status)
    return result


def validate_payment_reference(reference: object) -> None:
    """A payment's reference from outside (the operator API, staff's "Move money…") is not one
    of the platform's own; its form is checked where it is used as a key (`_move`)."""
    if isinstance(reference, str) and reference.startswith(_PLATFORM_PREFIXES):
        prefix = next(p for p in _PLATFORM_PREFIXES if reference.startswith(p))
        raise ValidationFailed(
            f"References starting {prefix!r} are the platform's own.",
            details={"reference": [f"starts with the reserved {prefix!r}"]},
        )


def is_payment_reference(reference: str | None) -> bool:
    """Whether a movement's key names a payment (a payout the payment system sends, and may
    return) rather than being one the platform made to move it once."""
    if not reference:
        return False
    return not reference.startswith(_PLATFORM_PREFIXES)


def validate_adjustment(amount: object) -> int:
    if type(amount) is not int or amount == 0 or abs(amount) > 10**15:
        raise ValidationFailed("An adjustment is a non-zero integer in minor units.", details={"amount": ["invalid"]})
    return amount


def wallet_adjust(
    *,
    player_id: str,
    currency: str,
    amount: int,
    created_by: str,
    reason: str,
    reference: str | None = None,
    trace_id: str = "",
) -> WalletResult:
    """A signed correction against the adjustments account; never below zero."""
    validate_adjustment(amount)
    return _move(
        kind=JournalTransaction.Kind.ADJUSTMENT,
        player_id=player_id,
        currency=currency,
        delta=amount,
        created_by=created_by,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=None,
    )
