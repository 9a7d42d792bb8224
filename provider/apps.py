from django.apps import AppConfig


class ProviderConfig(AppConfig):
    name = "provider"
    verbose_name = "Game providers"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deploy check of PROVIDER_SECRET_KEY
