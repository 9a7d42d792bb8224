"""Back-office money movements: deposits, withdrawals and adjustments by staff, and the
cashier's through the operator API (wallet/services/cashier.py adds the player's rules)."""

from collections.abc import Callable

from django.db import transaction

from casino_platform.errors import ValidationFailed
from ledger.models import Account, JournalTransaction
from ledger.services import Leg, ledger_account_get_or_create, ledger_post
from players.models import Player

from ..errors import InsufficientFunds, WithdrawalNotFound
from ..models import Wallet
from ..selectors import currency_get
from .common import (
    WalletResult,
    run_idempotent,
    validate_amount,
    validate_transaction_id,
    wallet_apply,
    wallet_get_or_create_locked,
    wallet_lock,
    wallet_lock_current,
)

BACKOFFICE_SCOPE = "backoffice"

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
) -> WalletResult:
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
        counter_kind = _COUNTER_ACCOUNT[kind]
        counter = ledger_account_get_or_create(key=f"{counter_kind}:{currency}", kind=counter_kind, currency=currency)
        balance = wallet_apply(wallet=wallet, delta=delta)
        journal = ledger_post(
            kind=kind,
            legs=[Leg(wallet.account_id, delta, currency), Leg(counter.pk, -delta, currency)],
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
        )

    if reference is None:
        with transaction.atomic(durable=True):
            return work()
    validate_transaction_id(reference, "reference")
    return run_idempotent(
        scope=BACKOFFICE_SCOPE,
        key=reference,
        operation=kind,
        payload={"player_id": player_id, "currency": currency, "delta": delta},
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
) -> WalletResult:
    """Take cash out of a wallet (wallet -> cash_out account); never below zero."""
    validate_amount(amount, minimum=1)
    return _move(
        kind=JournalTransaction.Kind.WITHDRAWAL,
        player_id=player_id,
        currency=currency,
        delta=-amount,
        created_by=created_by,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=check_player,
    )


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
    if type(amount) is not int or amount == 0 or abs(amount) > 10**15:
        raise ValidationFailed("An adjustment is a non-zero integer in minor units.", details={"amount": ["invalid"]})
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


def wallet_withdrawal_return(
    *,
    player_id: str,
    reference: str,
    created_by: str,
    reason: str,
    trace_id: str = "",
    currency: str | None = None,
) -> WalletResult:
    """A payout that failed after its withdrawal: the money goes back to the wallet, once.

    Written as a `withdrawal` that reverses the first one (cash_out -> wallet; `reverses` is
    unique, so the database allows one return), which keeps a period's withdrawals net of
    returns in one kind. No player rule refuses it: it is the player's own money coming
    back. A repeat answers the return already made, with the balance as it is now. With
    `currency`, only a withdrawal from that wallet of the player is found."""
    validate_transaction_id(reference, "reference")
    if not reason.strip():
        raise ValidationFailed("Say why: a return needs a reason.", details={"reason": ["required"]})
    with transaction.atomic(durable=True):
        withdrawal = JournalTransaction.objects.filter(
            kind=JournalTransaction.Kind.WITHDRAWAL,
            provider_code=BACKOFFICE_SCOPE,
            provider_transaction_id=reference,
            reverses__isnull=True,
        ).first()
        entries = list(withdrawal.entries.order_by("leg")) if withdrawal else []
        wallets = Wallet.objects.filter(account_id__in=[e.account_id for e in entries], player__player_id=player_id)
        wallet = (wallets.filter(currency_id=currency) if currency else wallets).first()
        if withdrawal is None or wallet is None:
            raise WithdrawalNotFound(f"No withdrawal {reference!r} of player {player_id!r}.")
        player, locked = wallet_lock(player_pk=wallet.player_id, currency=wallet.currency_id)
        assert locked is not None  # the withdrawal's wallet exists
        earlier = JournalTransaction.objects.filter(reverses=withdrawal).first()
        if earlier is not None:
            return WalletResult(
                player_id=player.player_id,
                currency=locked.currency_id,
                balance=locked.balance,
                transaction_id=reference,
                platform_transaction_id=str(earlier.pk),
                replayed=True,
            )
        paid_out = next(e.amount for e in entries if e.account_id == locked.account_id)  # negative
        balance = wallet_apply(wallet=locked, delta=-paid_out)
        journal = ledger_post(
            kind=JournalTransaction.Kind.WITHDRAWAL,
            legs=[Leg(e.account_id, -e.amount, e.currency_id) for e in entries],
            created_by=created_by,
            reason="returned",
            reverses=withdrawal,
            memo=reason,
            trace_id=trace_id,
        )
    return WalletResult(
        player_id=player.player_id,
        currency=locked.currency_id,
        balance=balance,
        transaction_id=reference,
        platform_transaction_id=str(journal.pk),
    )
