from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def session_idle_timeout_slides(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Play slides a session's idle expiry at most once a minute (SESSION_SLIDE_INTERVAL): with
    an idle timeout no longer than that, a session expires before any call may slide it, and
    every session in play ends that long after its launch."""
    from .services import SESSION_SLIDE_INTERVAL

    interval = int(SESSION_SLIDE_INTERVAL.total_seconds())
    if settings.SESSION_IDLE_TIMEOUT_SECONDS > interval:
        return []
    return [
        Error(
            f"SESSION_IDLE_TIMEOUT_SECONDS ({settings.SESSION_IDLE_TIMEOUT_SECONDS}) is not more than the "
            f"{interval} s between two slides of a session's expiry: sessions would expire while played.",
            hint="Set it well above a minute, e.g. 1800 (.env.example).",
            id="sessions.E001",
        )
    ]
