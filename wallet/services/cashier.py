"""The casino's cashier: deposits its payment gateway has taken and payouts it is about to
send, through the operator API. Back-office movements, with a payment reference that moves
money once, and the player's own rules on top, checked under the wallet's lock."""

from casino_platform import clock
from ledger.selectors import currency_get
from players.errors import KycRequired, PlayerBlocked, ResponsibleGamblingLimit
from players.models import DepositLimit, Player
from players.selectors import period_limit_missing
from players.services import limit_missing_refusal, player_assert_may_be_paid, player_assert_may_bet

from ..models import Wallet
from ..selectors import period_limit_crossed, wallet_deposited_total, wallet_deposits
from .backoffice import validate_payment_reference, wallet_deposit, wallet_withdraw
from .common import WalletResult


def _assert_within_deposit_limits(*, player: Player, wallet: Wallet | None, currency: str, amount: int) -> None:
    """Deposits so far in each limited period, plus this one, must stay within the limit in
    force; a period the player limits in any currency needs a limit in this one too. Runs
    under the player's lock, so two deposits cannot cross a limit together."""
    missing = period_limit_missing(model=DepositLimit, player=player, currency=currency)
    if missing is not None:
        raise limit_missing_refusal(
            player=player, currency=currency, model=DepositLimit, missing=missing, counted="deposits"
        )
    crossed = period_limit_crossed(
        model=DepositLimit,
        player=player,
        currency=currency,
        wallet=wallet,
        amount=amount,
        now=clock.now(),
        used=wallet_deposits,
    )
    if crossed is not None:
        raise ResponsibleGamblingLimit(
            f"This deposit would take the {crossed.period}'s deposits to {crossed.so_far + amount}, over the "
            f"limit of {crossed.limit} {currency}.",
            details={
                "deposit_limit": {
                    "period": crossed.period,
                    "amount": crossed.limit,
                    "remaining": max(0, crossed.limit - crossed.so_far),
                }
            },
        )


def _assert_kyc_allows_deposit(*, player: Player, wallet: Wallet | None, currency: str, amount: int) -> None:
    """Anti-money-laundering: a player whose identity is not verified may deposit up to the
    currency's `kyc_deposits_above` in all, and no more until verified. Under the player's
    lock, like the deposit limits, so parallel deposits cannot cross it together."""
    if player.kyc_status == Player.KycStatus.VERIFIED:
        return
    known = currency_get(code=currency, enabled_only=False)
    threshold = known.kyc_deposits_above
    if threshold is None:
        return
    deposited = wallet_deposited_total(wallet=wallet)
    if deposited + amount > threshold:
        raise KycRequired(
            f"Player {player.player_id}'s identity is not verified (KYC {player.kyc_status}): deposits stop at "
            f"{known.format(threshold)} in all until it is, and this one would take them to "
            f"{known.format(deposited + amount)}.",
            details={
                "kyc_status": player.kyc_status,
                "kyc_deposits_above": threshold,
                "deposited": deposited,
                "remaining": max(0, threshold - deposited),
            },
        )


def _assert_may_withdraw(player: Player, wallet: Wallet | None) -> None:
    # A self-excluded player, one on a time-out or one who closed the account may always take
    # their money out; a blocked account is frozen until staff have looked at it (they can
    # still pay out in the admin).
    if player.status == Player.Status.BLOCKED:
        raise PlayerBlocked(f"Player {player.player_id} is blocked: withdrawals wait for staff.")
    player_assert_may_be_paid(player=player)


def cashier_deposit(
    *, player_id: str, currency: str, amount: int, reference: str, operator: str, reason: str, trace_id: str = ""
) -> WalletResult:
    """Money the player paid in. Refused (and the payment for the gateway to return) while the
    player is blocked, self-excluded or on a time-out, the same rules as a bet, when it would
    go over one of the player's deposit limits or is in a currency without a limit of a
    period the player limits in another, or over the currency's KYC deposit threshold for a
    player who is not verified."""

    def check(player: Player, wallet: Wallet | None) -> None:
        player_assert_may_bet(player=player)
        _assert_within_deposit_limits(player=player, wallet=wallet, currency=currency, amount=amount)
        _assert_kyc_allows_deposit(player=player, wallet=wallet, currency=currency, amount=amount)

    validate_payment_reference(reference)
    return wallet_deposit(
        player_id=player_id,
        currency=currency,
        amount=amount,
        created_by=operator,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=check,
    )


def withdrawal_review_reason(*, currency: str, amount: int, asked: bool) -> str:
    """Why a withdrawal through the operator API waits for staff, or "" when it need not:
    the operator asked (its own risk rules: a first withdrawal, documents still to check),
    or the amount is over the currency's review threshold."""
    if asked:
        return "asked by the operator"
    known = currency_get(code=currency, enabled_only=False)
    threshold = known.withdrawal_review_above
    if threshold is not None and amount > threshold:
        return f"over the review threshold of {known.format(threshold)}"
    return ""


def cashier_withdraw(
    *,
    player_id: str,
    currency: str,
    amount: int,
    reference: str,
    operator: str,
    reason: str,
    trace_id: str = "",
    review: bool = False,
) -> WalletResult:
    """Money leaving for the player's payment method; never below zero. Taken from the wallet
    at once either way; `status` says whether it may be sent now (`approved`) or waits for
    staff (`pending`: on withdrawals_pending, still the player's, until approved or rejected)."""
    validate_payment_reference(reference)
    return wallet_withdraw(
        player_id=player_id,
        currency=currency,
        amount=amount,
        created_by=operator,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=_assert_may_withdraw,
        review_reason=withdrawal_review_reason(currency=currency, amount=amount, asked=review),
        review_asked=review,
    )
