from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallets"

    def ready(self) -> None:
        from django.db.models import Q

        from ledger.models import Account
        from ledger.reconciliation import register_cached_balance, register_held_total

        from . import checks  # noqa: F401 - registers the webhook's settings check
        from .models import Wallet, Withdrawal

        register_cached_balance(
            Wallet,
            balance_field="balance",
            account_field="account",
            account_kind=Account.Kind.PLAYER_WALLET,
            owner_field="player__player_id",
        )
        register_held_total(
            Withdrawal,
            account_kind=Account.Kind.WITHDRAWALS_PENDING,
            amount_field="amount",
            currency_field="wallet__currency_id",
            held=Q(status=Withdrawal.Status.PENDING),
        )
