"""The backend's health check: a polled socket instead of `SELECT 1` before every request."""

import time

import psycopg
import pytest
from django.db import close_old_connections, connection

pytestmark = pytest.mark.django_db(transaction=True)


def _terminate_and_wait(pid: int) -> None:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's farewell reaches the socket shortly after.
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _fresh_connection_afterwards():
    yield
    # The test flush that follows needs a live connection.
    connection.close()


def test_a_healthy_idle_connection_is_usable_without_a_query(monkeypatch) -> None:
    connection.ensure_connection()

    def no_queries(*args, **kwargs):
        raise AssertionError("is_usable() sent a query")

    monkeypatch.setattr(connection.connection, "cursor", no_queries)
    monkeypatch.setattr(connection.connection, "execute", no_queries)
    assert connection.is_usable()


def test_a_connection_the_server_closed_is_not_usable() -> None:
    connection.ensure_connection()
    _terminate_and_wait(connection.connection.info.backend_pid)
    assert not connection.is_usable()


def test_the_next_request_after_a_server_side_close_reconnects(monkeypatch) -> None:
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.ensure_connection()
    old_pid = connection.connection.info.backend_pid
    _terminate_and_wait(old_pid)
    # What the start of every request does (Django's test client skips it, so call it here).
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid
