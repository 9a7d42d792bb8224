from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def provider_secret_key_set(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Without PROVIDER_SECRET_KEY provider secrets are encrypted with a key derived from
    SECRET_KEY: whoever has that and a database dump can sign wallet calls, and a new
    SECRET_KEY leaves every stored secret unreadable."""
    if settings.PROVIDER_SECRET_KEY:
        return []
    return [
        Warning(
            "PROVIDER_SECRET_KEY is not set: provider secrets are encrypted with a key derived from SECRET_KEY.",
            hint="Set PROVIDER_SECRET_KEY to a Fernet key (.env.example) before any secret is stored.",
            id="provider.W001",
        )
    ]
