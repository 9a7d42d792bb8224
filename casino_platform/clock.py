"""The platform's clock. Services call `now()`; tests move time by patching it."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
