from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def cashier_webhook_signed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Events about players' money are never sent unsigned: a URL needs its secret."""
    if settings.CASHIER_WEBHOOK_URL and not settings.CASHIER_WEBHOOK_SECRET:
        return [
            Error(
                "CASHIER_WEBHOOK_URL is set but CASHIER_WEBHOOK_SECRET is empty.",
                hint="Set CASHIER_WEBHOOK_SECRET to the secret the payment system verifies the events with.",
                id="wallet.E001",
            )
        ]
    return []
