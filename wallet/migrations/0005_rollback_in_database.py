"""The provider rollback of a booked debit as one PostgreSQL function
(wallet/sql/wallet_rollback_v1.sql). SQLite keeps the Python path only; so do tombstones."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_rollback_v1.sql"


def forward(apps, schema_editor):
    pg_run_sql(schema_editor, SQL.read_text())


def reverse(apps, schema_editor):
    pg_run_sql(
        schema_editor,
        "DROP FUNCTION IF EXISTS wallet_rollback_v1(text, bigint, text, text, text, text, text, text, text,"
        " timestamptz);",
    )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0004_debit_v2")]

    operations = [migrations.RunPython(forward, reverse)]
