"""Wallets: one per player and currency. `balance` is integer minor units, a cache of the
sum of the wallet's ledger account entries (reconciliation proves they agree)."""

from django.db import models


class Wallet(models.Model):
    # No index of their own: (player, currency)'s unique key serves lookups by player, and a
    # currency alone (the admin's filter) matches too large a share of all wallets for an
    # index to help. Every UPDATE of a wallet opens each of its indexes, and every money
    # movement updates one (docs/performance.md, 2026-12-03 evening).
    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="wallets", db_index=False)
    currency = models.ForeignKey("ledger.Currency", on_delete=models.PROTECT, db_column="currency", db_index=False)
    balance = models.BigIntegerField(default=0)
    account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="wallet")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["player_id", "currency_id"]
        constraints = [
            models.UniqueConstraint(fields=["player", "currency"], name="wallet_one_per_currency"),
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="wallet_balance_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.player_id}/{self.currency_id}"


class RollbackTombstone(models.Model):
    """A rollback arrived for a debit we never saw; that debit is refused if it comes later."""

    provider_code = models.CharField(max_length=64)
    transaction_id = models.CharField(max_length=128)
    rollback_transaction_id = models.CharField(max_length=128)
    player_id_text = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_code", "transaction_id"], name="tombstone_once_per_transaction"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_code}:{self.transaction_id}"
