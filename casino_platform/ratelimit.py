"""Fixed one-second windows counted in the shared cache (Redis), for the providers' wallet
calls and the operator API's keys alike."""

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

# After the cache failed, limits let calls through uncounted this long before trying it again:
# a Redis that stops answering would otherwise cost every limited call its timeout.
CACHE_RETRY_AFTER_SECONDS = 5.0
_cache_down_until = 0.0


def _this_second() -> int:
    """The window's number (tests hold it still without stopping the process's clock)."""
    return int(time.time())


def calls_this_second(name: str) -> int:
    """Count a call of `name` in the current second; how many it has made in it, this one
    included. Every process counts in the same cache, so a limit holds across workers."""
    key = f"ratelimit:{name}:{_this_second()}"
    if cache.add(key, 1, timeout=2):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this is the window's first call
        cache.add(key, 1, timeout=2)
        return 1


def within_rate_limit(name: str, limit: int) -> bool:
    """Whether this call of `name` is within `limit` calls a second. Without the cache it is
    let through (and the outage logged once per retry period): a limit guards the platform
    against a runaway caller, and is not worth refusing bets and payments over."""
    global _cache_down_until
    if time.monotonic() < _cache_down_until:
        return True
    try:
        return calls_this_second(name) <= limit
    except Exception:  # Redis down, refusing writes or timing out: whatever its error, fail open
        _cache_down_until = time.monotonic() + CACHE_RETRY_AFTER_SECONDS
        logger.warning(
            "rate limits not counted for %.0f s: the cache is unavailable", CACHE_RETRY_AFTER_SECONDS, exc_info=True
        )
        return True
