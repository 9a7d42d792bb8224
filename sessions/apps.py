from django.apps import AppConfig


class GameSessionsConfig(AppConfig):
    name = "sessions"
    label = "game_sessions"  # tables become game_sessions_*; keep it stable once migrated
    verbose_name = "Game sessions and rounds"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the check of the idle timeout
