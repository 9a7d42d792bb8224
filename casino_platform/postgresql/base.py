"""Django's PostgreSQL backend with a health check that costs no round trip, and a cursor
kept with the connection for the wallet callbacks' one statement.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request:
one more round trip on every wallet call. An idle connection to a healthy server has
nothing to read, while one the server closed (restart, pg_terminate_backend, idle timeout)
has its farewell or EOF waiting on the socket: polling the socket answers the same
question without asking the server.

A wallet callback runs one statement (a call of a wallet function, wallet/sql/). Through
`connection.cursor()` that statement cost about twice the client CPU of the same execute
on a psycopg cursor created once: each Django cursor builds a psycopg cursor (with its own
copy of the connection's adapters map) and wraps it twice (docs/performance.md).
`fetch_value()` keeps one psycopg cursor per connection and runs the statement on it with
what Django's wrapper would do: the health check, the broken-transaction guard, the
translation of psycopg's errors into Django's, and, when queries are logged or an execute
wrapper is installed, Django's own wrapper around the kept cursor."""

import select
from typing import Any

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg import pq


class DatabaseWrapper(PostgresDatabaseWrapper):
    _kept_cursor: Any = None

    def fetch_value(self, sql: str, params: list[Any]) -> Any:
        """The first column of the first row of one statement, run on the cursor kept with
        this connection, in whatever transaction the connection is in."""
        self.close_if_health_check_failed()
        if self.connection is None:
            self.ensure_connection()
        self.validate_thread_sharing()
        cursor = self._kept_cursor
        if cursor is None or cursor.closed or cursor.connection is not self.connection:
            with self.wrap_database_errors:
                cursor = self._kept_cursor = self.create_cursor()
        if self.queries_logged or self.execute_wrappers:
            # Django's wrapper (never closed: the cursor stays kept) logs and wraps as for any query.
            wrapped = self.make_debug_cursor(cursor) if self.queries_logged else self.make_cursor(cursor)
            wrapped.execute(sql, params)
            with self.wrap_database_errors:
                return cursor.fetchone()[0]
        self.validate_no_broken_transaction()
        with self.wrap_database_errors:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def close(self) -> None:
        self._kept_cursor = None  # it belongs to the connection going away
        super().close()

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            # Mid-transaction (or unknown): only the server can say; ask it as Django does.
            return super().is_usable()
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        # Something to read while idle means the server is gone or going (a notice while idle
        # is all else it could be; reconnecting then costs one connection, never a request).
        return not readable
