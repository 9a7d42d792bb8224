from django.urls import path

from . import views

# The contract's callbacks under /api/v1/wallet/; the WSGI front (front.py) serves the same map.
CALLBACK_VIEWS: dict[str, type[views.WalletApiView]] = {
    "authenticate": views.WalletAuthenticateApi,
    "balance": views.WalletBalanceApi,
    "debit": views.WalletDebitApi,
    "credit": views.WalletCreditApi,
    "rollback": views.WalletRollbackApi,
}

urlpatterns = [path(name, view.as_view(), name=f"wallet-{name}") for name, view in CALLBACK_VIEWS.items()]
