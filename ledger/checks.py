"""System checks of the database the ledger lives in: run by `manage.py check --database
default` and before `migrate` (so `make run` shows them)."""

from typing import Any

from django.core import checks
from django.db import connections

AUTOVACUUM_OFF = "ledger.W001"


def postgresql_autovacuum_running(connection: Any) -> bool:
    """Whether autovacuum runs for this PostgreSQL connection's server: its own switch and
    the statistics counts it works from."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on'")
        return bool(cursor.fetchone()[0])


@checks.register(checks.Tags.database)
def postgresql_autovacuum_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The wallet functions' statements are planned once per connection; only an ANALYZE of
    a table replans them. Without autovacuum nothing analyzes the journal, round and
    idempotency tables as they grow, and plans made while they were small keep scanning them
    sequentially: on the bench machine that halved the debits per second
    (docs/performance.md)."""
    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        if not postgresql_autovacuum_running(connection):
            messages.append(
                checks.Warning(
                    f"PostgreSQL for database '{alias}' runs without autovacuum (autovacuum or track_counts is off).",
                    hint="Turn both on (ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf()), or schedule "
                    "VACUUM (ANALYZE) yourself: plans made while the ledger's tables were small scan them "
                    "sequentially until the next ANALYZE.",
                    id=AUTOVACUUM_OFF,
                )
            )
    return messages
