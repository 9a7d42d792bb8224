"""For race tests that stage a request waiting for a row lock the test holds."""

import threading
import time

import pytest
from django.db import connection


def until_another_waits_for_a_lock(other: threading.Thread, what: str, *, seconds: float = 20) -> None:
    """Return once another session waits for a lock (the one this test's open transaction
    holds, staged by the caller); fail the test, naming `what` never waited, if none does
    within `seconds`."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # The statistics views keep one snapshot per transaction unless told to drop it.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    other.join(30)
    pytest.fail(f"{what} never waited for the lock")
