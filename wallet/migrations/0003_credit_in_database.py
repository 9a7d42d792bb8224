"""The provider credit as one PostgreSQL function (wallet/sql/wallet_credit_v1.sql): one round
trip instead of ten. SQLite keeps the Python path only.

The SQL is read from its versioned file; a change of rules ships as wallet_credit_v2.sql in a
new migration, so this migration keeps meaning what it meant."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_install_sql_file

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_credit_v1.sql"


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0002_debit_in_database"),
        ("ledger", "0004_entry_checked_once"),
        ("game_sessions", "0003_round_indexes_used"),
    ]

    operations = [
        pg_install_sql_file(
            SQL,
            drop=(
                "DROP FUNCTION IF EXISTS wallet_credit_v1(text, bigint, text, text, text, text, text, text, text, text,"
                " bigint, text, text, boolean, text, timestamptz, bigint);"
            ),
        )
    ]
