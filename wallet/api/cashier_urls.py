from django.urls import path

from . import cashier

# Mounted at api/v1/players/ by casino_platform/urls.py, beside the players app's own routes.
urlpatterns = [
    path("<str:player_id>/deposits", cashier.DepositApi.as_view(), name="player-deposit"),
    path("<str:player_id>/withdrawals", cashier.WithdrawalApi.as_view(), name="player-withdrawal"),
    path(
        "<str:player_id>/withdrawals/<str:reference>",
        cashier.WithdrawalStateApi.as_view(),
        name="player-withdrawal-state",
    ),
    path(
        "<str:player_id>/withdrawals/<str:reference>/cancel",
        cashier.WithdrawalCancelApi.as_view(),
        name="player-withdrawal-cancel",
    ),
    path(
        "<str:player_id>/withdrawals/<str:reference>/return",
        cashier.WithdrawalReturnApi.as_view(),
        name="player-withdrawal-return",
    ),
    path("<str:player_id>/transactions", cashier.WalletHistoryApi.as_view(), name="player-transactions"),
    path("<str:player_id>/statement", cashier.WalletStatementApi.as_view(), name="player-statement"),
]

# Mounted at api/v1/ by casino_platform/urls.py: the payment system's, not one player's.
feed_urlpatterns = [
    path("withdrawal-events", cashier.WithdrawalEventFeedApi.as_view(), name="withdrawal-events"),
]
