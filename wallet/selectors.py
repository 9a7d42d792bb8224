from django.db import connection

from casino_platform.errors import ValidationFailed
from ledger.models import Currency
from players.models import Player

from .errors import CurrencyMismatch
from .models import RollbackTombstone, Wallet


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


def tombstone_exists(*, provider_code: str, transaction_id: str) -> bool:
    """Did a rollback for this debit arrive first? Read on every debit, so plain SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {RollbackTombstone._meta.db_table} WHERE provider_code = %s AND transaction_id = %s",
            [provider_code, transaction_id],
        )
        return cursor.fetchone() is not None
