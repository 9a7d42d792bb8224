"""Shared pieces of the OpenAPI schema: error responses listed per endpoint, with examples."""

from collections import defaultdict
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from .errors import DomainError, error_class_for_code

# Every wallet call can meet these, before its own rules run.
WALLET_COMMON_ERRORS = (
    "VALIDATION_ERROR",
    "INVALID_SIGNATURE",
    "UNKNOWN_PROVIDER",
    "STALE_TIMESTAMP",
    "IP_NOT_ALLOWED",
    "PROVIDER_DISABLED",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
)

SIGNED_REQUEST_HEADERS = [
    OpenApiParameter("X-Provider-Id", str, OpenApiParameter.HEADER, required=True, description="Provider code."),
    OpenApiParameter("X-Timestamp", str, OpenApiParameter.HEADER, required=True, description="Unix seconds."),
    OpenApiParameter(
        "X-Signature",
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="hex HMAC-SHA256(secret, '{timestamp}.POST.{path}.' + raw body)",
    ),
    OpenApiParameter("X-Trace-Id", str, OpenApiParameter.HEADER, required=False, description="Echoed back."),
]


def error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error codes, grouped by HTTP status."""
    from wallet.api.serializers import ErrorOutput

    by_status: dict[int, list[type[DomainError]]] = defaultdict(list)
    for code in codes:
        cls = error_class_for_code(code)
        by_status[cls.http_status].append(cls)
    responses = {}
    for status, classes in sorted(by_status.items()):
        examples = [
            OpenApiExample(
                cls.code,
                value={
                    "code": cls.code,
                    "message": cls.default_message,
                    "retryable": cls.retryable,
                    "trace_id": "5f0c6d1e9a7b4c2d8e3f1a0b9c8d7e6f",
                },
                response_only=True,
                status_codes=[str(status)],
            )
            for cls in classes
        ]
        responses[status] = OpenApiResponse(
            ErrorOutput, description="Error codes: " + ", ".join(c.code for c in classes), examples=examples
        )
    return responses


def operator_error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """error_responses for an operator API endpoint: its own codes, the refusal of a call
    without a known key (401 UNAUTHORIZED, DRF's own, no DomainError), of a key without the
    endpoint's scope, of one over its rate limit, and of a body over the limit."""
    from wallet.api.serializers import ErrorOutput

    responses = error_responses("SCOPE_NOT_GRANTED", "RATE_LIMITED", "PAYLOAD_TOO_LARGE", *codes)
    unauthorized = "UNAUTHORIZED (no operator key, or one unknown or revoked)"
    if 401 in responses:
        responses[401].description += f", {unauthorized}"
    else:
        responses[401] = OpenApiResponse(ErrorOutput, description=f"Error codes: {unauthorized}")
    return dict(sorted(responses.items()))


class StrictInputScheme(OpenApiSerializerExtension):
    """A StrictInput body refuses a field it does not know (VALIDATION_ERROR): its schema says
    so with `additionalProperties: false`, so a client generated from it sends none."""

    target_class = "casino_platform.fields.StrictInput"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if getattr(self.target, "refuses_unknown_fields", True):
            schema["additionalProperties"] = False
        return schema
