from django.urls import path

from . import rounds, views

# Mounted at api/v1/ by casino_platform/urls.py.
urlpatterns = [
    path("sessions", views.SessionCreateApi.as_view(), name="session-create"),
    path("sessions/<int:session_id>", views.SessionStateApi.as_view(), name="session-state"),
    path("sessions/<int:session_id>/close", views.SessionCloseApi.as_view(), name="session-close"),
    path("games", views.GameCatalogueApi.as_view(), name="game-catalogue"),
    path("players/<str:player_id>/sessions", views.PlayerSessionsApi.as_view(), name="player-sessions"),
    path(
        "players/<str:player_id>/sessions/close", views.PlayerSessionsCloseApi.as_view(), name="player-sessions-close"
    ),
    path("players/<str:player_id>/rounds", rounds.PlayerRoundsApi.as_view(), name="player-rounds"),
    path(
        # A round id is the provider's, any characters: a "/" in it too.
        "players/<str:player_id>/rounds/<str:provider>/<path:round_id>",
        rounds.PlayerRoundApi.as_view(),
        name="player-round",
    ),
]
