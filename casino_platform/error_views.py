"""400, 404 and 500 outside DRF's reach answer in the contract's error shape on API paths."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from .tracing import current_trace_id


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or request.path == "/health"


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Django's own refusals before any view runs, e.g. a Host not in ALLOWED_HOSTS.
    if _is_api(request):
        return JsonResponse(
            {
                "code": "VALIDATION_ERROR",
                "message": "The request was refused before it reached the API (check the Host header).",
                "retryable": False,
                "trace_id": current_trace_id(),
            },
            status=400,
        )
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {
                "code": "NOT_FOUND",
                "message": f"No endpoint {request.path}.",
                "retryable": False,
                "trace_id": current_trace_id(),
            },
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {
                "code": "INTERNAL_ERROR",
                "message": "An unexpected error; it has been logged.",
                "retryable": False,
                "trace_id": current_trace_id(),
            },
            status=500,
        )
    return defaults.server_error(request)
