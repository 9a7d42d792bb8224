"""The one DRF exception handler: every error leaves as the contract's error body."""

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from .errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)


def request_trace_id(request: Any) -> str:
    trace_id = getattr(request, "trace_id", None)
    if not trace_id:
        trace_id = uuid.uuid4().hex
        if request is not None:
            request.trace_id = trace_id
    return str(trace_id)


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def error_response(exc: DomainError, trace_id: str) -> Response:
    response = Response(exc.as_body(trace_id), status=exc.http_status)
    if exc.replayed:
        response["Idempotent-Replayed"] = "true"
    if exc.code == "RATE_LIMITED" and "retry_after" in exc.details:
        response["Retry-After"] = str(exc.details["retry_after"])
    return response


def _is_transient(exc: Exception) -> bool:
    """Failures that a retry may cure: the database or the cache/broker briefly away."""
    from django.db import InterfaceError, OperationalError

    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        return isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, OperationalError | InterfaceError | RedisConnectionError | RedisTimeoutError)


def _unexpected(exc: Exception, trace_id: str) -> Response:
    """Logged once with the trace id. Transient failures are retryable 503s; anything else is
    a bug and answers 500 in the contract's shape, never an HTML page."""
    logger.exception("unexpected error answering a request", extra={"trace_id": trace_id})
    if _is_transient(exc):
        error: DomainError = ServiceUnavailable()
        return Response(error.as_body(trace_id), status=error.http_status)
    body = {
        "code": "INTERNAL_ERROR",
        "message": "An unexpected error; it has been logged.",
        "retryable": False,
        "trace_id": trace_id,
    }
    return Response(body, status=500)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    request = context.get("request")
    trace_id = request_trace_id(request)
    if isinstance(exc, DomainError):
        return error_response(exc, trace_id)
    code, http, retryable, message, details = "VALIDATION_ERROR", 400, False, "The request is not valid.", None
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        if isinstance(details, dict):
            message = "Invalid fields: " + ", ".join(sorted(details))
    elif isinstance(exc, exceptions.ParseError):
        message = f"Malformed JSON body: {exc.detail}"
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        message = str(exc.detail)
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code, http, message = "UNAUTHORIZED", status.HTTP_401_UNAUTHORIZED, str(exc.detail)
    elif isinstance(exc, exceptions.PermissionDenied):
        code, http, message = "FORBIDDEN", status.HTTP_403_FORBIDDEN, str(exc.detail)
    elif isinstance(exc, Http404 | exceptions.NotFound):
        code, http, message = "NOT_FOUND", status.HTTP_404_NOT_FOUND, "Not found."
    elif isinstance(exc, exceptions.MethodNotAllowed):
        code, http, message = "METHOD_NOT_ALLOWED", status.HTTP_405_METHOD_NOT_ALLOWED, str(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        code, http, retryable, message = "RATE_LIMITED", 429, True, str(exc.detail)
    elif isinstance(exc, RequestDataTooBig):
        # Raised where the view first reads the body: the wallet's front refuses it before.
        kib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        code, http, message = "PAYLOAD_TOO_LARGE", 413, f"The body is over {kib} KiB."
    elif isinstance(exc, exceptions.APIException):
        code, http, message = "VALIDATION_ERROR", exc.status_code, str(exc.detail)
    else:
        return _unexpected(exc, trace_id)
    body: dict[str, Any] = {"code": code, "message": message, "retryable": retryable, "trace_id": trace_id}
    if details is not None:
        body["details"] = details
    return Response(body, status=http)
