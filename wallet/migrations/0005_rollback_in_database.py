"""The provider rollback of a booked debit as one PostgreSQL function
(wallet/sql/wallet_rollback_v1.sql). SQLite keeps the Python path only; so do tombstones."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_install_sql_file

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_rollback_v1.sql"


class Migration(migrations.Migration):
    dependencies = [("wallet", "0004_debit_v2")]

    operations = [
        pg_install_sql_file(
            SQL,
            drop=(
                "DROP FUNCTION IF EXISTS wallet_rollback_v1(text, bigint, text, text, text, text, text, text, text,"
                " timestamptz);"
            ),
        )
    ]
