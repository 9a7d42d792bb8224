from casino_platform.errors import ValidationFailed
from ledger.models import Currency
from players.models import Player

from .errors import CurrencyMismatch
from .models import Wallet


def wallet_get(*, player: Player, currency: str) -> Wallet:
    wallet = Wallet.objects.filter(player=player, currency_id=currency).first()
    if wallet is None:
        raise CurrencyMismatch(f"Player {player.player_id} has no {currency} wallet.")
    return wallet


def currency_get(*, code: str, enabled_only: bool = True) -> Currency:
    currency = Currency.objects.filter(code=code).first()
    if currency is None or (enabled_only and not currency.is_enabled):
        raise ValidationFailed(
            f"Currency {code!r} is not enabled on this platform.", details={"currency": ["not enabled"]}
        )
    return currency
