"""The provider debit, version 2 (wallet/sql/wallet_debit_v2.sql): the journal transaction
and its entries are written before the player's wallet lock instead of under it. v1 stays:
v2 hands it the refusals it meets under the lock."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_install_sql_file

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_debit_v2.sql"


class Migration(migrations.Migration):
    dependencies = [("wallet", "0003_credit_in_database")]

    operations = [
        pg_install_sql_file(
            SQL,
            drop=(
                "DROP FUNCTION IF EXISTS wallet_debit_v2(text, bigint, text, text, text, text, text, text, text, bigint,"
                " text, text, boolean, text, timestamptz, boolean, bigint, integer);"
            ),
        )
    ]
