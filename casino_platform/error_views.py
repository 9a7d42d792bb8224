"""400, 404 and 500 outside DRF's reach answer in the contract's error shape on API paths."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from .tracing import current_trace_id


def _is_api(request: HttpRequest) -> bool:
    # The sandbox game page's own calls are read by its script as JSON too.
    return request.path.startswith(("/api/", "/sandbox/api/")) or request.path == "/health"


def api_error(code: str, message: str, status: int, *, retryable: bool = False) -> JsonResponse:
    """An error in the contract's shape, outside DRF (these views, the sandbox page's API)."""
    return JsonResponse(
        {"code": code, "message": message, "retryable": retryable, "trace_id": current_trace_id()}, status=status
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Django's own refusals before any view runs, e.g. a Host not in ALLOWED_HOSTS.
    if _is_api(request):
        return api_error(
            "VALIDATION_ERROR", "The request was refused before it reached the API (check the Host header).", 400
        )
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_error("NOT_FOUND", f"No endpoint {request.path}.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return api_error("INTERNAL_ERROR", "An unexpected error; it has been logged.", 500)
    return defaults.server_error(request)
