"""System checks of the database the ledger lives in: run by `manage.py check --database
default` and before `migrate` (so `make run` shows them)."""

from typing import Any

from django.core import checks
from django.db import connections

AUTOVACUUM_OFF = "ledger.W001"


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
        with connection.cursor() as cursor:
            # Autovacuum needs the statistics collector's counts as well as its own switch.
            cursor.execute("SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on'")
            running = cursor.fetchone()[0]
        if not running:
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
