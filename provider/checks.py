from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security)
def provider_secret_key_valid(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A PROVIDER_SECRET_KEY that is no Fernet key (a SECRET_KEY-like string pasted in) would
    let the platform start and answer every wallet call 500: refused at start instead."""
    if not settings.PROVIDER_SECRET_KEY:
        return []
    try:
        Fernet(settings.PROVIDER_SECRET_KEY)
    except (ValueError, TypeError) as exc:
        return [
            Error(
                f"PROVIDER_SECRET_KEY is not a Fernet key ({exc}).",
                hint='32 random bytes, url-safe base64: python -c "import base64, os; '
                'print(base64.urlsafe_b64encode(os.urandom(32)).decode())" (.env.example).',
                id="provider.E001",
            )
        ]
    return []


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
