"""Django's PostgreSQL backend with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request:
one more round trip on every wallet call. An idle connection to a healthy server has
nothing to read, while one the server closed (restart, pg_terminate_backend, idle timeout)
has its farewell or EOF waiting on the socket: polling the socket answers the same
question without asking the server."""

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg import pq


class DatabaseWrapper(PostgresDatabaseWrapper):
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
