"""Migrating the ledger back past a migration that protects its rows is refused while there are
rows to protect: unapplying it would quietly drop the journal's append-only triggers and
balance check (0002), the settings trail itself (0014), the TRUNCATE guards (0020), the
wallets' guards and the later legs' time check (0021) or the export records (0022). On an
empty database, a developer's or a test's, they unapply as before.

Each such migration's reverse checks (the executor's own path), and so does a pre_migrate
receiver over the whole plan, so that `migrate ledger 0013` is refused before it unapplies
the migrations after the one that refuses."""

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.exceptions import IrreversibleError

# What unapplying each migration gives up, and the tables whose rows it guards.
PROTECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "0002_ledger_db_rules": (
        "the journal's append-only triggers and its balance check",
        ("ledger_entry", "ledger_journaltransaction", "players_playerauditlog"),
    ),
    "0014_setting_changes": ("the settings trail (its table is dropped)", ("ledger_settingchange",)),
    "0020_history_cannot_be_truncated_or_reread": (
        "the TRUNCATE guards and the accounts' fixed kind, key and currency",
        ("ledger_entry", "ledger_journaltransaction", "ledger_settingchange", "players_playerauditlog"),
    ),
    "0021_reconcile_runs_and_entry_time": (
        "the wallets' DELETE and TRUNCATE guards, the later legs' time check and the reconcile runs",
        ("wallet_wallet", "ledger_entry", "ledger_reconcilerun"),
    ),
    "0022_export_record": ("the export records (their table is dropped)", ("ledger_exportrecord",)),
}


def refuse_unapplying_over_rows(connection: BaseDatabaseWrapper, migration: str) -> None:
    """Raise IrreversibleError if a table `migration` protects holds a row."""
    what, tables = PROTECTIONS[migration]
    present = set(connection.introspection.table_names())
    holding = []
    with connection.cursor() as cursor:
        for table in tables:
            if table in present:
                cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
                if cursor.fetchone() is not None:
                    holding.append(table)
    if holding:
        raise IrreversibleError(
            f"Unapplying ledger.{migration} would remove {what} while {', '.join(holding)} hold rows: refused. "
            "Restore a backup taken before it, or move forward with a new migration."
        )


def refuse_unapplying_protections(sender: Any, *, plan: Any = None, using: str = DEFAULT_DB_ALIAS, **kwargs: Any):
    """pre_migrate: the whole plan is refused before any of it is unapplied."""
    for migration, backwards in plan or ():
        if backwards and migration.app_label == "ledger" and migration.name in PROTECTIONS:
            refuse_unapplying_over_rows(connections[using], migration.name)
