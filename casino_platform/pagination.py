"""The operator API's pages: cursor pages over a time and the id, newest first, and the
`?limit=` every page takes (the wallet's movements, a player's withdrawals and rounds, the
withdrawal event feed)."""

from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

from casino_platform.errors import ValidationFailed

# Every page of the operator API: how many it holds unless `?limit=` says, and at most.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class TimeCursorPagination(CursorPagination):
    """Opaque cursors over (a time, id), newest first: a page stays right while new rows
    arrive, and costs the same on the thousandth page as on the first. Subclasses name the
    time in `ordering`."""

    ordering = ("-created_at", "-id")
    page_size = PAGE_SIZE
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            # A well-formed cursor can still carry a position that is no time (made by hand).
            if cursor is None or cursor.position is None or _aware_time(str(cursor.position)):
                return cursor
        raise ValidationFailed("cursor is not one this API gave out.", details={"cursor": ["invalid"]})

    def get_page_size(self, request: Request) -> int:
        return page_limit(request, default=self.page_size, maximum=self.max_page_size)


def page_limit(request: Request, *, default: int = PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """`?limit=`: how many a page holds, a whole number from 1 to `maximum` (`default` without it)."""
    given = request.query_params.get("limit")
    if given is None:
        return default
    # Length first: int() refuses more than 4,300 digits (a ValueError, a 500).
    if not given.isascii() or not given.isdigit() or len(given) > len(str(maximum)) or not 1 <= int(given) <= maximum:
        raise ValidationFailed(
            f"limit is a whole number from 1 to {maximum}.",
            details={"limit": [f"1 to {maximum}"]},
        )
    return int(given)


LIMIT_PARAMETER = OpenApiParameter(
    "limit",
    # The bounds page_limit() holds to (VALIDATION_ERROR outside them), in the schema too.
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    OpenApiParameter.QUERY,
    description=f"Per page: {PAGE_SIZE} unless given, at most {MAX_PAGE_SIZE}.",
)
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, OpenApiParameter.QUERY, description="From `next` or `previous`."),
    LIMIT_PARAMETER,
]


def _aware_time(text: str) -> bool:
    try:
        parsed = parse_datetime(text)
    except ValueError:  # the shape of a time, and no such time (30 February)
        return False
    return parsed is not None and parsed.tzinfo is not None
