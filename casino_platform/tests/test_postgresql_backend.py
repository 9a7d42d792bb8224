"""The backend's health check (a polled socket instead of `SELECT 1` before every request) and
the cursor it keeps for the wallet callbacks' one statement."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.db import DatabaseError, OperationalError, close_old_connections, connection, connections
from django.test.utils import CaptureQueriesContext

from casino_platform.db import postgresql_url

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


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'casino%%' ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


def test_fetch_text_prepares_each_statement_once_per_connection() -> None:
    assert connection.fetch_text("SELECT %s::int + 1", [41]) == b"42"
    assert connection.fetch_text("SELECT %s::int + 1", [1]) == b"2"
    assert _prepared_here() == ["SELECT $1::int + 1"]
    connection.close()
    assert connection.fetch_text("SELECT %s::int + 1", [2]) == b"3"
    assert _prepared_here() == ["SELECT $1::int + 1"]


def test_fetch_text_reconnects_after_a_server_side_close(monkeypatch) -> None:
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    old_pid = int(connection.fetch_text("SELECT pg_backend_pid() + %s", [0]))
    _terminate_and_wait(old_pid)
    close_old_connections()  # the start of the next request
    assert int(connection.fetch_text("SELECT pg_backend_pid() + %s", [0])) != old_pid


def test_fetch_text_prepares_again_what_psycopg_deallocated() -> None:
    assert connection.fetch_text("SELECT %s::text", ["first"]) == b"first"
    with connection.cursor() as cursor:
        # What psycopg sends when it drops its own statements (after a ROLLBACK, DROP, ALTER).
        cursor.execute("DEALLOCATE ALL")
    assert _prepared_here() == []
    assert connection.fetch_text("SELECT %s::text", ["again"]) == b"again"
    assert _prepared_here() == ["SELECT $1::text"]


def test_fetch_text_in_a_transaction_runs_in_it() -> None:
    """Its first statement included: psycopg opens the transaction Django's block asked for."""
    from django.db import transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE fetch_text_probe (n int)")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert connection.fetch_text("INSERT INTO fetch_text_probe VALUES (%s) RETURNING n::text", [5]) == "5"
        raise RuntimeError("undo the block")
    assert connection.fetch_text("SELECT count(*) FROM fetch_text_probe WHERE n = %s", [5]) == b"0"
    with transaction.atomic():
        assert connection.fetch_text("INSERT INTO fetch_text_probe VALUES (%s) RETURNING n::text", [6]) == "6"
    assert connection.fetch_text("SELECT count(*) FROM fetch_text_probe WHERE n = %s", [6]) == b"1"
    assert "INSERT" not in " ".join(_prepared_here())


def test_fetch_text_without_server_side_statements_runs_unprepared(monkeypatch) -> None:
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    assert connection.fetch_text("SELECT %s::int * 3", [3]) == b"9"
    assert _prepared_here() == []


def test_fetch_text_sends_each_parameter_type_as_postgresql_reads_it() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 12, 3, 14, 5, 6, 789012, tzinfo=UTC)
    sql = "SELECT concat_ws('|', %s::text, %s::boolean, %s::boolean, %s::bigint, %s::timestamptz, %s::text IS NULL)"
    answer = connection.fetch_text(sql, ["zß€", True, False, -(2**62), at, None])
    assert answer.decode() == "zß€|t|f|-4611686018427387904|2026-12-03 14:05:06.789012+00|t"


def test_fetch_text_refuses_a_nul_that_libpq_would_cut_the_parameter_at() -> None:
    from django.db import DataError

    with pytest.raises(DataError, match="NUL"):
        connection.fetch_text("SELECT %s::text", ["tx-1\x00tx-2"])


def test_fetch_text_raises_django_errors_with_the_sqlstate_behind_them() -> None:
    with pytest.raises(DatabaseError) as raised:
        connection.fetch_text("SELECT %s::int FROM no_such_table", [0])
    assert raised.value.__cause__.sqlstate == "42P01"  # undefined_table
    assert connection.errors_occurred
    with pytest.raises(DatabaseError) as raised:
        connection.fetch_text("SELECT 1 / %s::int", [0])  # prepared, refused when run
    assert raised.value.__cause__.sqlstate == "22012"  # division_by_zero
    assert connection.fetch_text("SELECT 1 / %s::int", [1]) == b"1"


def test_fetch_text_is_logged_and_wrapped_like_any_query() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert connection.fetch_text("SELECT %s::int", [7]) == 7  # as psycopg loads it
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 7::int"]


def test_fetch_text_answers_a_connection_lost_without_a_word_as_operational_error() -> None:
    """A network drop, crash or failover: libpq's result carries no SQLSTATE, and the call's
    outcome is unknown, so it is an OperationalError (a retryable answer), as psycopg's cursor
    raises it."""
    connection.ensure_connection()
    link = socket.socket(fileno=os.dup(connection.connection.pgconn.socket))
    cut = threading.Timer(0.3, link.shutdown, args=[socket.SHUT_RDWR])
    cut.start()
    try:
        with pytest.raises(OperationalError):
            connection.fetch_text("SELECT pg_sleep(%s::int)::text", [3])
    finally:
        cut.join()
        link.close()
    assert not connection.is_usable()


def test_statements_live_with_the_server_session_a_pool_may_hand_on() -> None:
    assert connection.fetch_text("SELECT %s::int + 1", [1]) == b"2"
    other = connections.create_connection("default")
    other.connection = connection.connection  # as a pool hands a session to another wrapper
    try:
        assert other.fetch_text("SELECT %s::int * 5", [2]) == b"10"
        assert other.fetch_text("SELECT %s::int + 1", [2]) == b"3"
    finally:
        other.connection = None
    assert _prepared_here() == ["SELECT $1::int + 1", "SELECT $1::int * 5"]


def test_a_database_url_can_name_the_servers_unix_socket() -> None:
    """DATABASE_URL with the socket's directory percent-encoded as its host, as libpq's own URLs
    write it, connects over that socket (django-environ alone keeps the host encoded)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW unix_socket_directories")
        directories = [d.strip() for d in cursor.fetchone()[0].split(",") if d.strip()]
        cursor.execute("SELECT system_identifier::text FROM pg_control_system()")
        (server,) = cursor.fetchone()
    settings = connection.settings_dict
    port = settings["PORT"] or 5432
    directory = next((d for d in directories if Path(d, f".s.PGSQL.{port}").exists()), None)
    if directory is None:
        pytest.skip("the test server has no Unix socket on this machine")
    probe = (
        "import django; django.setup(); from django.db import connection; "
        "print(connection.settings_dict['HOST']); cursor = connection.cursor(); "
        "print(cursor.connection.info.host); "
        "cursor.execute('SELECT system_identifier::text FROM pg_control_system()'); print(cursor.fetchone()[0])"
    )
    env = {
        **os.environ,
        "DATABASE_URL": postgresql_url(settings, host=directory),
        "DJANGO_SETTINGS_MODULE": "casino_platform.settings",
        "DEBUG": "1",
    }
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and "authentication failed" in done.stderr:
        pytest.skip("the test server does not let this user in over its socket")
    assert done.returncode == 0, done.stderr
    # The same server (a socket of this machine could belong to another one), over the socket.
    assert done.stdout.split() == [directory, directory, server]
