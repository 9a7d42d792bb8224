"""Fixed one-second windows counted in the shared cache (Redis), for the providers' wallet
calls and the operator API's keys alike."""

import time

from django.core.cache import cache


def calls_this_second(name: str) -> int:
    """Count a call of `name` in the current second; how many it has made in it, this one
    included. Every process counts in the same cache, so a limit holds across workers."""
    key = f"ratelimit:{name}:{int(time.time())}"
    if cache.add(key, 1, timeout=2):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this is the window's first call
        cache.add(key, 1, timeout=2)
        return 1
