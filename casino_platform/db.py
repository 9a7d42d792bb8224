"""Helpers for the few hand-written SQL statements of the hot path."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, overload
from urllib.parse import quote

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import AddIndex
from django.db.models import BigIntegerField, Func
from django.utils.dateparse import parse_datetime


@cache
def default_database_is_postgresql() -> bool:
    """Whether the default database is PostgreSQL, which the process's settings fix for its
    life. Asked on every wallet call; `connection.vendor` would look the thread's connection
    up through an asgiref Local each time (about 16k instructions)."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def _sync_thread_storage() -> threading.local | None:
    """The threading.local in which Django keeps this thread's connections, when this thread
    runs no event loop; None in async code, or if asgiref keeps them differently.

    Django's connections live in an asgiref Local (thread-critical): in a thread without an
    event loop it reads and writes a plain threading.local, but finds that out on every
    access by calling asyncio.get_running_loop() and catching the RuntimeError it raises,
    about 7,000 instructions each time. A wallet callback looked connections up three times
    (docs/performance.md)."""
    if asyncio._get_running_loop() is not None:
        return None
    storage = vars(connections._connections).get("_storage")  # type: ignore[attr-defined]
    return storage if isinstance(storage, threading.local) else None


def thread_connection(alias: str = DEFAULT_DB_ALIAS) -> BaseDatabaseWrapper:
    """`connections[alias]`, found without asgiref's check where that is safe."""
    storage = _sync_thread_storage()
    conn = getattr(storage, alias, None) if storage is not None else None
    return conn if conn is not None else connections[alias]


def initialized_connections() -> list[BaseDatabaseWrapper]:
    """`connections.all(initialized_only=True)`: this thread's connections opened so far, with
    one lookup of each alias instead of two, and without asgiref's check where that is safe
    (tests hold them equal)."""
    storage = _sync_thread_storage()
    if storage is None:
        storage = connections._connections  # type: ignore[attr-defined]  # as ConnectionHandler.all() reads it
    return [conn for conn in (getattr(storage, alias, None) for alias in connections) if conn is not None]


@overload
def aware_datetime(value: datetime | str) -> datetime: ...
@overload
def aware_datetime(value: None) -> None: ...
def aware_datetime(value: datetime | str | None) -> datetime | None:
    """A raw column value as an aware datetime: SQLite hands them back naive (or as text),
    PostgreSQL aware."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    # Stored in UTC; SQLite's come back naive.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pg_single_column_constraints(schema_editor, table: str, column: str, *, foreign_key: bool) -> list[str]:
    """Names of the plain (non-unique) indexes on, or the foreign keys of, exactly `column`."""
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, c in constraints.items()
        if c["columns"] == [column]
        and (c["foreign_key"] if foreign_key else c["index"] and not c["unique"] and not c["primary_key"])
    ]


def pg_drop_redundant(schema_editor, table: str, *, indexes: tuple[str, ...] = (), foreign_keys: tuple[str, ...] = ()):
    """Drops, on PostgreSQL only, the single-column indexes and foreign keys Django made for
    these columns: indexes CONCURRENTLY (the migration must be non-atomic), foreign keys with
    a short lock timeout, so that a busy wallet table is never locked for long. Other
    databases keep theirs: rebuilding a SQLite table would drop its ledger triggers."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in indexes:
        for name in pg_single_column_constraints(schema_editor, table, column, foreign_key=False):
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    for column in foreign_keys:
        for name in pg_single_column_constraints(schema_editor, table, column, foreign_key=True):
            schema_editor.execute("SET lock_timeout = '5s'")
            try:
                schema_editor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')
            finally:  # non-atomic: the setting would outlive a failed statement
                schema_editor.execute("RESET lock_timeout")


def pg_restore_indexes(schema_editor, table: str, columns: tuple[str, ...]):
    """The reverse of pg_drop_redundant's index drops."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in columns:
        if not pg_single_column_constraints(schema_editor, table, column, foreign_key=False):
            schema_editor.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{table}_{column}_idx" ON "{table}" ("{column}")'
            )


def pg_run_sql(schema_editor, sql: str) -> None:
    """Run hand-written SQL (the wallet's functions, wallet/sql/) in a migration, on
    PostgreSQL only: SQLite keeps the Python paths."""
    if schema_editor.connection.vendor != "postgresql":
        return
    # No parameters: the '%' in format() strings must reach PostgreSQL untouched.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def pg_install_sql_file(path, *, drop: str):
    """A migration operation that installs a versioned SQL file (wallet/sql/) on PostgreSQL,
    read when the migration runs, and `drop` to reverse it."""
    from django.db import migrations

    return migrations.RunPython(
        lambda apps, schema_editor: pg_run_sql(schema_editor, path.read_text()),
        lambda apps, schema_editor: pg_run_sql(schema_editor, drop),
    )


def postgresql_url(settings_dict: dict, *, host: str | None = None) -> str:
    """DATABASE_URL for another process on the same PostgreSQL database as `settings_dict`
    (a connection's settings), which the settings read back to the same values: a Unix
    socket's directory as host is percent-encoded, as are the user and the password."""
    host = host if host is not None else (settings_dict["HOST"] or "127.0.0.1")
    user = quote(settings_dict["USER"] or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    return f"postgres://{credentials}@{quote(host, safe='')}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


@contextmanager
def read_snapshot() -> Iterator[None]:
    """A transaction in which every read sees the same committed state, for figures read in
    more than one query that must agree (a balance and the entries that explain it).
    PostgreSQL's default READ COMMITTED takes a new snapshot per statement, so it is asked for
    REPEATABLE READ; SQLite's transactions read one state anyway. Inside a caller's
    transaction the caller chose its view, and it is kept."""
    fresh = not connection.in_atomic_block
    with transaction.atomic():
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


@contextmanager
def exclusive_turn(name: str) -> Iterator[bool]:
    """A transaction of its own, and whether this process has `name`'s turn in it, for a job
    that must not run twice at once and must not hold a transaction id while it reads: a row
    lock would give the transaction one, and an open transaction with an id holds back the
    withdrawal-event feed for as long as it runs. PostgreSQL's transaction-level advisory lock,
    taken without waiting, assigns none (the job's first write does); it ends with the
    transaction, or with the connection if the process dies, and holds behind a pooler in
    transaction mode, where a session's lock and its release could land on two connections.
    Elsewhere (SQLite, the embedded default) always the turn."""
    with transaction.atomic(durable=True):
        if connection.vendor != "postgresql":
            yield True
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [name])
            yield bool(cursor.fetchone()[0])


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    """AddIndexConcurrently where the database can (PostgreSQL: a big table keeps taking writes
    while the index builds; the migration must be non-atomic), a plain AddIndex elsewhere (the
    embedded database of `make test-embedded`)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class WritingTransactionId(Func):
    """The id of the writing transaction (`pg_current_xact_id()`) as a bigint, for a column's
    database default: rows ordered by it and read only below `FinishedTransactionsBelow` come
    out in an order no later commit can add to the middle of, which `id` order does not give
    (ids are taken at insert, not commit). SQLite takes one writer at a time, so there `id`
    order is commit order already and the column is 0."""

    template = "0"
    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class FinishedTransactionsBelow(Func):
    """The oldest transaction id still running (`pg_snapshot_xmin` of the current snapshot):
    every writing transaction below it has committed or rolled back. On SQLite, 1: above the 0
    there of every row."""

    template = "1"
    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint)", []


def values_along_index(model: Any, column: str) -> list[Any]:
    """The distinct values of `column`, read by skipping along an index that leads with it,
    one probe per value, rather than by reading the table (which SELECT DISTINCT does)."""
    table = connection.ops.quote_name(model._meta.db_table)
    name = connection.ops.quote_name(model._meta.get_field(column).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE found(v) AS ("
            f" SELECT MIN({name}) FROM {table}"
            f" UNION ALL"
            f" SELECT (SELECT MIN({name}) FROM {table} WHERE {name} > found.v) FROM found WHERE found.v IS NOT NULL"
            f") SELECT v FROM found WHERE v IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]
