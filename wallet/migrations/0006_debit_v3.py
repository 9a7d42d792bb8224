"""The provider debit, version 3 (wallet/sql/wallet_debit_v3.sql): v1's order when the
player's wallet lock is free, v2's (the ledger written before waiting for the lock) when it
is held. v1 and v2 stay: v1 answers what v3 hands back; v2 is what v3 was measured against."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_install_sql_file

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_debit_v3.sql"


class Migration(migrations.Migration):
    dependencies = [("wallet", "0005_rollback_in_database")]

    operations = [
        pg_install_sql_file(
            SQL,
            drop=(
                "DROP FUNCTION IF EXISTS wallet_debit_v3(text, bigint, text, text, text, text, text, text, text, bigint,"
                " text, text, boolean, text, timestamptz, boolean, bigint, integer);"
            ),
        )
    ]
