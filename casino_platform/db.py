"""Helpers for the few hand-written SQL statements of the hot path."""

from datetime import UTC, datetime
from typing import overload

from django.utils.dateparse import parse_datetime


@overload
def aware_datetime(value: datetime | str) -> datetime: ...
@overload
def aware_datetime(value: None) -> None: ...
def aware_datetime(value: datetime | str | None) -> datetime | None:
    """A raw column value as an aware datetime: SQLite hands them back naive (or as text),
    PostgreSQL aware."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    # Stored in UTC; SQLite's come back naive.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
