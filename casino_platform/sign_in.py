"""The address a staff sign-in is counted against (django-axes' AXES_CLIENT_IP_CALLABLE)."""

from django.conf import settings
from django.http import HttpRequest


def staff_sign_in_address(request: HttpRequest) -> str | None:
    """Behind the TLS proxy (BEHIND_TLS_PROXY) every connection is the proxy's: the client is
    the last address of X-Forwarded-For, the one the proxy itself appended (those before it
    are whatever the client sent). Otherwise the connection's own."""
    if settings.SECURE_PROXY_SSL_HEADER is not None:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR")
