"""GET /health, unauthenticated: database, broker and cache checks and the version."""

from typing import Any

from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes, renderer_classes
from rest_framework.response import Response

from . import __version__
from .renderers import OrjsonRenderer


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    from django.conf import settings

    from .celery import app

    # The transport's own socket timeouts, not connect_timeout, bound a broker that accepts
    # and never answers (kombu's Redis transport ignores connect_timeout).
    redis = settings.CELERY_BROKER_URL.startswith("redis")
    timeouts = {"socket_timeout": 2, "socket_connect_timeout": 2} if redis else {}
    with app.connection_for_write(
        url=settings.CELERY_BROKER_URL, connect_timeout=2, transport_options=timeouts
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _check_cache() -> str:
    # The rate limits' and the caches' Redis (REDIS_URL), which need not be the broker's.
    from django.core.cache import cache

    cache.get("health")
    return "ok"


def health_report() -> tuple[bool, dict[str, Any]]:
    checks: dict[str, str] = {}
    for name, check in (("database", _check_database), ("broker", _check_broker), ("cache", _check_cache)):
        try:
            checks[name] = check()
        except Exception as exc:  # a health check reports failures; it never raises them
            checks[name] = f"failing: {type(exc).__name__}: {exc}"[:300]
    healthy = all(v == "ok" for v in checks.values())
    return healthy, {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "time": timezone.now().isoformat(),
        "checks": checks,
    }


@extend_schema(operation_id="health", tags=["operator"], responses={200: dict, 503: dict}, auth=[])
@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@renderer_classes([OrjsonRenderer])
def health(request: HttpRequest) -> Response:
    healthy, body = health_report()
    return Response(body, status=200 if healthy else 503)
