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
wrapper is installed, Django's own wrapper around the kept cursor.

`fetch_text()` goes one step further for the wallet functions, whose answer is one jsonb
value: the statement is prepared once per connection and run with libpq's own call
(psycopg's `pgconn.exec_prepared`, which releases the interpreter lock while it waits), its
parameters sent as text and its answer taken as PostgreSQL's text. psycopg's cursor spends
more instructions choosing dumpers and loaders and stepping its wait generator than the
call itself costs the client: 8% of a debit's Python instructions (docs/performance.md)."""

import select
from datetime import datetime
from functools import cache
from typing import Any, NoReturn

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg import DataError, OperationalError, pq
from psycopg.errors import error_from_result


def _as_text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text form, for the types the wallet functions take; the
    statement's casts give them their types. Strings first: most parameters are."""
    if isinstance(value, str):
        if "\x00" in value:
            # libpq reads a text parameter up to its first NUL: the rest would be lost unseen.
            raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return value.encode()
    if value is None:
        return None
    if value is True or value is False:
        return b"t" if value else b"f"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, datetime):
        return value.isoformat().encode()
    raise TypeError(f"fetch_text() sends no {type(value).__name__} parameters")


@cache  # the wallet's few statements, converted once (unprepared calls send the text each time)
def _numbered(sql: str) -> bytes:
    """Django's %s placeholders as PostgreSQL's $1, $2, ..."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError("fetch_text() takes %s placeholders only")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)).encode() + parts[-1].encode()


class _Statements:
    """The statements fetch_text() prepared on one server session, kept with its psycopg
    connection, which a connection pool may hand from one DatabaseWrapper to another. Names
    are never reused on the session, even after its statements were deallocated."""

    def __init__(self) -> None:
        self.names: dict[str, bytes] = {}
        self.named = 0

    def name_for(self, sql: str, conn: Any) -> bytes:
        """The name `sql` is prepared under on `conn`'s session, prepared now if it is not."""
        name = self.names.get(sql)
        if name is None:
            # psycopg names its own statements _pg3_<n>: no clash.
            self.named += 1
            name = b"casino_%d" % self.named
            done = conn.pgconn.prepare(name, _numbered(sql))
            if done.status != pq.ExecStatus.COMMAND_OK:
                _raise_for(done, conn)
            self.names[sql] = name
        return name


def _statements_of(conn: Any) -> _Statements:
    statements = getattr(conn, "casino_statements", None)
    if statements is None:
        statements = conn.casino_statements = _Statements()
    return statements


def _raise_for(result: Any, conn: Any) -> NoReturn:
    """psycopg's error for a failed result, as its cursor would raise it. A connection lost
    without a word from the server (network, crash, failover) leaves a result with no
    SQLSTATE, from which psycopg would make a bare DatabaseError: that is an
    OperationalError, as the cursor raises it, and so a retryable answer (casino_platform/api.py)."""
    if conn.pgconn.status == pq.ConnStatus.BAD or result.error_field(pq.DiagnosticField.SQLSTATE) is None:
        message = result.error_message.decode(errors="replace").strip()
        raise OperationalError(message or "the connection to the server was lost")
    raise error_from_result(result, encoding=conn.info.encoding)


class DatabaseWrapper(PostgresDatabaseWrapper):
    _kept_cursor: Any = None

    def fetch_value(self, sql: str, params: list[Any]) -> Any:
        """The first column of the first row of one statement, run on the cursor kept with
        this connection, in whatever transaction the connection is in."""
        self._ready_for_a_statement()
        return self._fetch_on_kept_cursor(sql, params)

    def _ready_for_a_statement(self) -> None:
        """What Django's cursor checks before a statement: health, a connection, its thread."""
        self.close_if_health_check_failed()
        if self.connection is None:
            self.ensure_connection()
        self.validate_thread_sharing()

    def _fetch_on_kept_cursor(self, sql: str, params: list[Any]) -> Any:
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

    def fetch_text(self, sql: str, params: list[Any]) -> str | bytes | None:
        """The first column of the first row of one statement, in PostgreSQL's text form (bytes),
        in autocommit: the statement is its own transaction. Parameters: None, bool, int, str
        and datetime. Inside a transaction, or with queries logged or an execute wrapper
        installed, it runs as `fetch_value()` does, on psycopg's cursor, in that transaction
        (and answers what psycopg loads: str for text and jsonb)."""
        self._ready_for_a_statement()
        conn = self.connection
        pgconn = conn.pgconn
        if (
            self.queries_logged
            or self.execute_wrappers
            or not conn.autocommit
            or pgconn.transaction_status != pq.TransactionStatus.IDLE
        ):
            # Inside a transaction psycopg's cursor runs it: psycopg sends the BEGIN that
            # Django's atomic block asked for before its first statement, which libpq's call
            # would not; and a statement missing there could not be retried.
            return self._fetch_on_kept_cursor(sql, params)
        self.validate_no_broken_transaction()
        with self.wrap_database_errors:
            values = [_as_text(value) for value in params]
            if conn.prepare_threshold is None:
                # Server-side statements are off (DATABASE_PREPARE_THRESHOLD): e.g. a pooler
                # that hands each transaction to another server connection.
                result = pgconn.exec_params(_numbered(sql), values)
            else:
                statements = _statements_of(conn)
                result = pgconn.exec_prepared(statements.name_for(sql, conn), values)
                if result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000":
                    # Gone: psycopg deallocates all of a connection's statements when it drops
                    # its own (after a ROLLBACK, DROP or ALTER it ran). Outside a transaction
                    # the refused call did nothing: prepare it again and send it again.
                    statements.names.clear()
                    result = pgconn.exec_prepared(statements.name_for(sql, conn), values)
            if result.status != pq.ExecStatus.TUPLES_OK:
                _raise_for(result, conn)
            return result.get_value(0, 0)

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
