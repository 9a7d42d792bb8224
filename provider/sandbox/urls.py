from django.urls import path

from . import views

urlpatterns = [
    path("play/", views.sandbox_play_page, name="sandbox-play"),
    path("api/session", views.sandbox_session_api, name="sandbox-session"),
    path("api/bet", views.sandbox_bet_api, name="sandbox-bet"),
]
