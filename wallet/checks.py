from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def cashier_webhook_signed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Events about players' money are never sent unsigned (a URL needs its secret), and a
    slow receiver is not sent an event again while it is still answering (the timeout, well
    inside the lease, bounds the connect and each wait for the receiver's bytes; one that
    trickles its answer past the lease does get it again, under the same X-Event-Id, as
    at-least-once delivery allows)."""
    if settings.CASHIER_WEBHOOK_URL and not settings.CASHIER_WEBHOOK_SECRET:
        return [
            Error(
                "CASHIER_WEBHOOK_URL is set but CASHIER_WEBHOOK_SECRET is empty.",
                hint="Set CASHIER_WEBHOOK_SECRET to the secret the payment system verifies the events with.",
                id="wallet.E001",
            )
        ]
    if settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS <= 0:
        return [
            Error(
                f"CASHIER_WEBHOOK_TIMEOUT_SECONDS ({settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS}) is not a positive "
                "number of seconds.",
                hint="Set it to how long the payment system may take to answer, e.g. 5.",
                id="wallet.E003",
            )
        ]
    if settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS * 2 > settings.OUTBOUND_LEASE_SECONDS:
        # A POST still waiting when its lease runs out is sent again by another worker.
        return [
            Error(
                f"CASHIER_WEBHOOK_TIMEOUT_SECONDS ({settings.CASHIER_WEBHOOK_TIMEOUT_SECONDS}) is more than half of "
                f"OUTBOUND_LEASE_SECONDS ({settings.OUTBOUND_LEASE_SECONDS}).",
                hint="Lower the timeout or raise the lease, so that an event is not sent twice while it is slow.",
                id="wallet.E002",
            )
        ]
    return []
