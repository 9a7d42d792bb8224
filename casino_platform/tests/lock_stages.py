"""For race tests that line sessions up for row locks one at a time, so that the order in
which PostgreSQL hands a lock on is the test's: a call started in a thread of its own, a
transaction of another session that holds a lock until told, and a wait until so many
sessions wait for a lock at once. (casino_platform/tests/locks.py starts calls together.)"""

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.db import connection, transaction

from casino_platform.tests.locks import sessions_waiting_for_a_lock


class Started:
    """`call()` running in a thread with its own database connection; `answer()` is what it
    returned, or the exception it raised (for the test to assert on)."""

    def __init__(self, call: Callable[[], Any], what: str):
        self.what = what
        self._outcome: Any = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=what, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._outcome = call()
        except Exception as exc:  # the answer the test asserts on
            self._outcome = exc
        finally:
            connection.close()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def answer(self, *, seconds: float = 30) -> Any:
        self._thread.join(seconds)
        if self._thread.is_alive():
            pytest.fail(f"{self.what} had not finished after {seconds}s")
        return self._outcome


class Holding:
    """Another session's transaction that takes `lock()`, waiting its turn if another session
    holds it, and keeps it until `release()`."""

    def __init__(self, lock: Callable[[], object], what: str):
        self.what = what
        self._held, self._released = threading.Event(), threading.Event()

        def hold() -> None:
            with transaction.atomic():
                lock()
                self._held.set()
                if not self._released.wait(60):
                    raise TimeoutError(f"{what} was never released")

        self._started = Started(hold, what)

    def until_held(self, *, seconds: float = 20) -> None:
        if not self._held.wait(seconds):
            pytest.fail(f"{self.what} never got the lock: {self._started.answer(seconds=1)!r}")

    def release(self) -> None:
        self._released.set()
        outcome = self._started.answer()
        if isinstance(outcome, Exception):
            raise outcome


def until_sessions_wait(n: int, what: str, *, calls: Iterable[Started] = (), seconds: float = 20) -> None:
    """Return once `n` other sessions of this database wait for a lock at the same time; fail
    naming `what` if they do not within `seconds`, or at once if one of `calls` finishes
    first (it ran past a lock the test meant it to wait for: its answer says how)."""
    calls = list(calls)
    deadline = time.monotonic() + seconds
    while (waiting := sessions_waiting_for_a_lock()) < n:
        done = [call for call in calls if call.finished]
        if done:
            pytest.fail(f"{done[0].what} finished instead of waiting ({what}): {done[0].answer()!r}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: only {waiting} of {n} sessions waited for a lock")
        time.sleep(0.02)
