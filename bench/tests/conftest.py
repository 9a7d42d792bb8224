"""What the bench's tests against the database share."""

import pytest
from django.db import connection


@pytest.fixture
def postgresql_cursor(db):
    """A cursor on the test database, for what only PostgreSQL has (its WAL, its shared
    memory, its functions); skipped on the embedded SQLite default."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        yield cursor
