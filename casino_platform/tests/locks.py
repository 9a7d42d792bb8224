"""For race tests that stage requests waiting for a row lock the test holds."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.db import connection, transaction

T = TypeVar("T")


def sessions_waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        # The statistics views keep one snapshot per transaction unless told to drop it.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            # This test's database only: another suite on the server waits for its own locks.
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            " AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def another_waits_for_a_lock(*, seconds: float = 20) -> bool:
    """Whether another session comes to wait for a lock within `seconds` (polled: PostgreSQL
    tells no one when a session starts waiting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sessions_waiting_for_a_lock():
            return True
        time.sleep(0.02)
    return False


def until_another_waits_for_a_lock(other: threading.Thread, what: str, *, seconds: float = 20) -> None:
    """Return once another session waits for a lock (the one this test's open transaction
    holds, staged by the caller); fail the test, naming `what` never waited, if none does
    within `seconds`."""
    if another_waits_for_a_lock(seconds=seconds):
        return
    other.join(30)
    pytest.fail(f"{what} never waited for the lock")


def together_behind_a_lock(
    lock: Callable[[], object], call: Callable[[int], T], n: int, *, seconds: float = 30
) -> list[T]:
    """call(0) .. call(n - 1), each in a thread of its own, while this test's connection holds
    the row lock `lock` takes; released only once all n wait for a lock at the same time. The
    calls then provably overlap: a result that needs the platform's own locking cannot come
    from their running in turn. Answers in the order of the calls."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        with transaction.atomic():
            lock()
            futures: list[Future[T]] = [pool.submit(call, i) for i in range(n)]
            deadline = time.monotonic() + seconds
            while (waiting := sessions_waiting_for_a_lock()) < n:
                finished = [i for i, f in enumerate(futures) if f.done()]
                if finished or time.monotonic() > deadline:
                    # Released by leaving the block; their answers say what ran past the lock.
                    break
                time.sleep(0.02)
        answers = [f.result() for f in futures]
    if waiting < n:
        pytest.fail(f"only {waiting} of {n} calls waited for the lock together; finished first: {finished}")
    return answers


def player_locked(player_id: str) -> None:
    """The lock every movement of a player's money waits for (with their wallet's)."""
    from players.models import Player

    Player.objects.select_for_update().get(player_id=player_id)
