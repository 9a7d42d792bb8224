"""The root of every domain error. Each subclass maps one-to-one onto a contract error code."""

from collections.abc import Iterator
from typing import Any, ClassVar

from django.core.exceptions import ValidationError


class DomainError(Exception):
    code: ClassVar[str] = "DOMAIN_ERROR"
    http_status: ClassVar[int] = 400
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        # Set when this error is the stored answer of an earlier request (idempotent replay).
        self.replayed = False
        self.original_trace_id: str | None = None
        super().__init__(self.message)

    def as_body(self, trace_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "trace_id": self.original_trace_id or trace_id,
        }
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(DomainError):
    code = "VALIDATION_ERROR"
    http_status = 400
    default_message = "The request is not valid."


def valid_or_refused(obj: Any, **full_clean: Any) -> None:
    """The model's own validation (lengths, ranges the database holds, validators) before a
    service writes a row, as VALIDATION_ERROR: a command's input no form has checked would
    otherwise reach the database as a DataError or IntegrityError, or be stored unusable."""
    try:
        obj.full_clean(**full_clean)
    except ValidationError as exc:
        details = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        first = next(iter(details.items()))
        raise ValidationFailed(f"{first[0]}: {first[1][0]}", details=details) from None


class ScopeNotGranted(DomainError):
    code = "SCOPE_NOT_GRANTED"
    http_status = 403
    default_message = "This operator API key may not use this endpoint."


class ServiceUnavailable(DomainError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    retryable = True
    default_message = "The service is temporarily unavailable; retry later."


class Maintenance(DomainError):
    code = "MAINTENANCE"
    http_status = 503
    retryable = True
    default_message = "The platform is in maintenance; retry later."


def _error_classes() -> Iterator[type[DomainError]]:
    """DomainError and every subclass of it loaded so far."""
    stack: list[type[DomainError]] = [DomainError]
    while stack:
        cls = stack.pop()
        yield cls
        stack.extend(cls.__subclasses__())


def answer_statuses() -> list[int]:
    """Every HTTP status a stored answer can have: success, and each refusal's."""
    return sorted({200} | {cls.http_status for cls in _error_classes()})


def error_class_for_code(code: str) -> type[DomainError]:
    """Find the error class for a stored code, so a replay re-raises the same type."""
    found = next((cls for cls in _error_classes() if cls.code == code), None)
    if found is None:
        raise LookupError(code)
    return found
