"""Wallets are funded through the back-office service, so the ledger always explains them."""

from ledger.tests.factories import CurrencyFactory
from players.models import Player
from players.tests.factories import PlayerFactory
from wallet.models import Wallet
from wallet.services import wallet_deposit


def funded_wallet(*, player: Player | None = None, currency: str = "EUR", amount: int = 100_000) -> Wallet:
    CurrencyFactory(code=currency, exponent={"JPY": 0, "KWD": 3}.get(currency, 2))
    player = player or PlayerFactory()
    if amount:
        wallet_deposit(player_id=player.player_id, currency=currency, amount=amount, created_by="test", reason="fund")
    else:
        from django.db import transaction

        from wallet.services import wallet_get_or_create_locked

        with transaction.atomic():
            wallet_get_or_create_locked(player=player, currency=currency)
    return Wallet.objects.get(player=player, currency_id=currency)
