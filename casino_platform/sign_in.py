"""Staff sign-in to the back office: the address an attempt is counted against (django-axes'
AXES_CLIENT_IP_CALLABLE), and the session's end after its idle minutes."""

import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from casino_platform import clock


def staff_sign_in_address(request: HttpRequest) -> str | None:
    """Behind the TLS proxy (BEHIND_TLS_PROXY) every connection is the proxy's: the client is
    the last address of X-Forwarded-For, the one the proxy itself appended (those before it
    are whatever the client sent). Otherwise the connection's own."""
    if settings.SECURE_PROXY_SSL_HEADER is not None:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        try:
            # An address only: axes stores it in an address column (a proxy's "ip:port" is not one).
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR")


def staff_session_idle_end(get_response: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """Middleware: a signed-in member of staff's back-office request moves their session's end
    on (SESSION_COOKIE_AGE, STAFF_SESSION_IDLE_MINUTES from now), at most once a minute, so
    that a session ends after that long unattended. Only there: SESSION_SAVE_EVERY_REQUEST
    saved the session of any request carrying a cookie, an unknown one as a new row."""

    def middleware(request: HttpRequest) -> Any:
        if request.path.startswith("/admin/") and request.user.is_authenticated:
            staff_session_mark(request)
        return get_response(request)

    return middleware


_SEEN_AT = "staff_seen_at"


def staff_session_mark(request: HttpRequest, **kwargs: Any) -> None:
    """Mark the session seen now, which saves it (and moves its end on), unless it was within
    the minute. Also on sign-in (user_logged_in), which saves it anyway."""
    now = int(clock.now().timestamp())
    if now - int(request.session.get(_SEEN_AT, 0)) >= 60:
        request.session[_SEEN_AT] = now
