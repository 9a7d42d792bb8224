"""The provider debit, version 2 (wallet/sql/wallet_debit_v2.sql): the journal transaction
and its entries are written before the player's wallet lock instead of under it. v1 stays:
v2 hands it the refusals it meets under the lock."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_debit_v2.sql"


def forward(apps, schema_editor):
    pg_run_sql(schema_editor, SQL.read_text())


def reverse(apps, schema_editor):
    pg_run_sql(
        schema_editor,
        "DROP FUNCTION IF EXISTS wallet_debit_v2(text, bigint, text, text, text, text, text, text, text, bigint,"
        " text, text, boolean, text, timestamptz, boolean, bigint, integer);",
    )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0003_credit_in_database")]

    operations = [migrations.RunPython(forward, reverse)]
