"""This thread's connections found without asgiref's check (casino_platform/db.py), and
found exactly as Django finds them."""

import asyncio
import threading

from django.db import connections

from casino_platform import db


def test_thread_connection_is_djangos_in_this_thread_and_in_another():
    assert db.thread_connection() is connections["default"]
    seen = {}

    def other_thread():
        seen["thread_connection"] = db.thread_connection()
        seen["django"] = connections["default"]

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen["thread_connection"] is seen["django"]
    assert seen["django"] is not connections["default"]


def test_before_the_first_lookup_django_creates_the_connection():
    seen = {}

    def fresh_thread():
        # Read here, judged in the test's thread: an assert failing in another thread fails nothing.
        seen["before"] = (db.initialized_connections(), connections.all(initialized_only=True))
        seen["conn"] = db.thread_connection()
        seen["django"] = connections["default"]
        seen["after"] = (db.initialized_connections(), connections.all(initialized_only=True))

    worker = threading.Thread(target=fresh_thread)
    worker.start()
    worker.join()
    assert seen["before"] == ([], [])
    assert seen["conn"] is seen["django"]
    assert seen["after"] == ([seen["conn"]], [seen["conn"]])


def test_with_an_event_loop_running_asgirefs_own_lookup_answers():
    async def in_a_loop():
        assert db._sync_thread_storage() is None
        return db.thread_connection(), connections["default"]

    found, django = asyncio.run(in_a_loop())
    assert found is django


def test_if_asgiref_keeps_connections_elsewhere_its_own_lookup_answers(monkeypatch):
    from asgiref.local import Local

    # A Local that keeps no threading.local of its own, as a later asgiref might.
    monkeypatch.setattr(connections, "_connections", Local(thread_critical=False))
    assert db._sync_thread_storage() is None
    assert db.initialized_connections() == connections.all(initialized_only=True) == []
    conn = db.thread_connection()
    assert conn is connections["default"]
    assert db.initialized_connections() == [conn]
    conn.close()
