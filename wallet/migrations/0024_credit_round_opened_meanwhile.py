"""A credit that opens a round judges it again when another wallet's call opened the same
round after the credit read it and committed first (it answered 500 on the round's unique
key): wallet_credit_v2 installed again from its file, changed in place. Irreversible: the
file holds only the current body."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_credit_v2.sql"


def install(apps, schema_editor):
    pg_run_sql(schema_editor, SQL.read_text())


class Migration(migrations.Migration):
    dependencies = [("wallet", "0023_staff_names_of_any_length")]

    operations = [migrations.RunPython(install)]
