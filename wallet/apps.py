from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallets"

    def ready(self) -> None:
        from ledger.reconciliation import register_cached_balance

        from .models import Wallet

        register_cached_balance(Wallet, balance_field="balance", account_field="account")
