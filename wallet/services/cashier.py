"""The casino's cashier: deposits its payment gateway has taken and payouts it is about to
send, through the operator API. Back-office movements, with a payment reference that moves
money once, and the player's own rules on top, checked under the wallet's lock."""

from players.errors import PlayerBlocked
from players.models import Player
from players.services import player_assert_may_bet

from .backoffice import wallet_deposit, wallet_withdraw
from .common import WalletResult


def _assert_may_deposit(player: Player) -> None:
    player_assert_may_bet(player=player)


def _assert_may_withdraw(player: Player) -> None:
    # A self-excluded player or one on a time-out may always take their money out; a blocked
    # account is frozen until staff have looked at it (they can still pay out in the admin).
    if player.status != Player.Status.ACTIVE:
        raise PlayerBlocked(f"Player {player.player_id} is blocked: withdrawals wait for staff.")


def cashier_deposit(
    *, player_id: str, currency: str, amount: int, reference: str, operator: str, reason: str, trace_id: str = ""
) -> WalletResult:
    """Money the player paid in. Refused (and the payment for the gateway to return) while the
    player is blocked, self-excluded or on a time-out: the same rules as a bet."""
    return wallet_deposit(
        player_id=player_id,
        currency=currency,
        amount=amount,
        created_by=operator,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=_assert_may_deposit,
    )


def cashier_withdraw(
    *, player_id: str, currency: str, amount: int, reference: str, operator: str, reason: str, trace_id: str = ""
) -> WalletResult:
    """Money leaving for the player's payment method; never below zero."""
    return wallet_withdraw(
        player_id=player_id,
        currency=currency,
        amount=amount,
        created_by=operator,
        reason=reason,
        reference=reference,
        trace_id=trace_id,
        check_player=_assert_may_withdraw,
    )
