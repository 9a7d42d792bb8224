"""Provider lookups on the hot path, cached in-process for a few seconds so a wallet call
does not decrypt secrets or reread the registry every time. Writes through the services
clear this process's cache at once; other processes see them within PROVIDER_CACHE_SECONDS."""

import time
from dataclasses import dataclass

from django.conf import settings

from .crypto import decrypt_secret
from .models import Provider, ProviderSecret


@dataclass(frozen=True)
class ProviderAuthInfo:
    provider: Provider
    secrets: tuple[str, ...]  # active, newest first


_cache: dict[str, tuple[float, ProviderAuthInfo | None]] = {}


def provider_cache_clear() -> None:
    _cache.clear()


def provider_auth_info(*, code: str) -> ProviderAuthInfo | None:
    now = time.monotonic()
    hit = _cache.get(code)
    if hit is not None and hit[0] > now:
        return hit[1]
    provider = Provider.objects.filter(code=code).first()
    info = None
    if provider is not None:
        secrets = ProviderSecret.objects.filter(provider=provider, is_active=True).order_by("-created_at", "-id")
        info = ProviderAuthInfo(provider, tuple(decrypt_secret(s.secret_encrypted) for s in secrets))
    _cache[code] = (now + settings.PROVIDER_CACHE_SECONDS, info)
    return info
