from django.urls import path

from . import views

# Mounted at api/v1/players/ by casino_platform/urls.py.
urlpatterns = [
    path("<str:player_id>", views.PlayerApi.as_view(), name="player"),
    path("<str:player_id>/responsible-gambling", views.ResponsibleGamblingApi.as_view(), name="player-rg"),
    path(
        "<str:player_id>/loss-limits/<str:currency>/<str:period>",
        views.LossLimitApi.as_view(),
        name="player-loss-limit",
    ),
    path(
        "<str:player_id>/wager-limits/<str:currency>/<str:period>",
        views.WagerLimitApi.as_view(),
        name="player-wager-limit",
    ),
    path(
        "<str:player_id>/deposit-limits/<str:currency>/<str:period>",
        views.DepositLimitApi.as_view(),
        name="player-deposit-limit",
    ),
    path("<str:player_id>/session-time-limit", views.SessionTimeLimitApi.as_view(), name="player-session-time-limit"),
    path(
        "<str:player_id>/daily-play-time-limit",
        views.DailyPlayTimeLimitApi.as_view(),
        name="player-daily-play-time-limit",
    ),
    path("<str:player_id>/self-exclusion", views.SelfExclusionApi.as_view(), name="player-self-exclusion"),
    path(
        "<str:player_id>/self-exclusion/resume",
        views.SelfExclusionResumeApi.as_view(),
        name="player-self-exclusion-resume",
    ),
    path("<str:player_id>/time-out", views.TimeOutApi.as_view(), name="player-time-out"),
    path("<str:player_id>/close", views.PlayerCloseApi.as_view(), name="player-close"),
]
