from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "casino_platform"
    verbose_name = "Casino platform"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deploy checks of the production settings
