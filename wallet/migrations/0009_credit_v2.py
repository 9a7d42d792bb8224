"""The provider credit, version 2 (wallet/sql/wallet_credit_v2.sql): a win or cash_out on a
round whose every debit was rolled back is refused, as by the Python path. v1 stays installed
for the code of the release before this one while both run."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_install_sql_file

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_credit_v2.sql"


class Migration(migrations.Migration):
    dependencies = [("wallet", "0008_wallet_indexes_covered_by_its_key")]

    operations = [
        pg_install_sql_file(
            SQL,
            drop=(
                "DROP FUNCTION IF EXISTS wallet_credit_v2(text, bigint, text, text, text, text, text, text, text, text,"
                " bigint, text, text, boolean, text, timestamptz, bigint);"
            ),
        )
    ]
