from players.selectors import player_get
from provider.models import Provider
from sessions.errors import SessionNotFound
from sessions.services import session_resolve

from ..errors import CurrencyMismatch
from ..selectors import wallet_get
from .common import WalletResult


def wallet_balance(
    *,
    provider: Provider,
    session_token: str | None = None,
    player_id: str | None = None,
    currency: str | None = None,
) -> WalletResult:
    """Read-only: the balance for a live session, or for a player and currency. With a session,
    a currency or player given beside it must be the session's (contract section 2)."""
    if session_token is not None:
        session = session_resolve(token=session_token, provider=provider)
        if currency is not None and currency != session.currency_id:
            raise CurrencyMismatch(f"The session plays in {session.currency_id}, not {currency}.")
        if player_id is not None and player_id != session.player.player_id:
            # Not who the session plays for: answered as for a token unknown for that player.
            raise SessionNotFound("The session does not belong to this player.")
        wallet = wallet_get(player=session.player, currency=session.currency_id)
        return WalletResult(player_id=session.player.player_id, currency=wallet.currency_id, balance=wallet.balance)
    assert player_id is not None and currency is not None
    player = player_get(player_id=player_id)
    wallet = wallet_get(player=player, currency=currency)
    return WalletResult(player_id=player.player_id, currency=currency, balance=wallet.balance)
