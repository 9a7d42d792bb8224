from django.urls import path

from . import views

urlpatterns = [
    path("authenticate", views.WalletAuthenticateApi.as_view(), name="wallet-authenticate"),
    path("balance", views.WalletBalanceApi.as_view(), name="wallet-balance"),
    path("debit", views.WalletDebitApi.as_view(), name="wallet-debit"),
    path("credit", views.WalletCreditApi.as_view(), name="wallet-credit"),
    path("rollback", views.WalletRollbackApi.as_view(), name="wallet-rollback"),
]
