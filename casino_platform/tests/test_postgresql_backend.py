"""The backend's health check (a polled socket instead of `SELECT 1` before every request) and
the cursor it keeps for the wallet callbacks' one statement."""

import time

import psycopg
import pytest
from django.db import DatabaseError, close_old_connections, connection
from django.test.utils import CaptureQueriesContext

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


def test_fetch_value_keeps_one_cursor_per_connection() -> None:
    assert connection.fetch_value("SELECT %s::int + 1", [41]) == 42
    kept = connection._kept_cursor
    assert connection.fetch_value("SELECT %s::text", ["again"]) == "again"
    assert connection._kept_cursor is kept
    connection.close()
    assert connection.fetch_value("SELECT 1", []) == 1
    assert connection._kept_cursor is not kept


def test_fetch_value_reconnects_after_a_server_side_close(monkeypatch) -> None:
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    old_pid = connection.fetch_value("SELECT pg_backend_pid()", [])
    _terminate_and_wait(old_pid)
    close_old_connections()  # the start of the next request
    assert connection.fetch_value("SELECT pg_backend_pid()", []) != old_pid


def test_fetch_value_raises_django_errors_with_the_sqlstate_behind_them() -> None:
    with pytest.raises(DatabaseError) as raised:
        connection.fetch_value("SELECT %s::int FROM no_such_table", [0])
    assert raised.value.__cause__.sqlstate == "42P01"  # undefined_table
    assert connection.errors_occurred  # so the end of the request checks the connection


def test_fetch_value_is_logged_and_wrapped_like_any_query() -> None:
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(wrapper):
        assert connection.fetch_value("SELECT %s::int", [7]) == 7
    assert seen == ["SELECT %s::int"]
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 7::int"]
