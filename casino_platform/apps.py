from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "casino_platform"
    verbose_name = "Casino platform"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from . import checks  # noqa: F401 - registers the deploy checks of the production settings
        from .sign_in import staff_session_mark

        # Seen at sign-in, whose save sets the session's end: the next minute's requests write nothing.
        user_logged_in.connect(staff_session_mark, dispatch_uid="staff_session_mark")
