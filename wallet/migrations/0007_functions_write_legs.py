"""The wallet's functions number the entries they write (leg 1 the player's side, leg 2 the
provider's clearing side), as ledger migration 0007 requires: their files (wallet/sql/) are
installed again. Irreversible: the files hold only the current bodies, and those write a
column the earlier schema lacks."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"
FILES = ("wallet_debit_v1.sql", "wallet_debit_v2.sql", "wallet_debit_v3.sql", "wallet_credit_v1.sql", "wallet_rollback_v1.sql")


def install(apps, schema_editor):
    for name in FILES:
        pg_run_sql(schema_editor, (SQL / name).read_text())


class Migration(migrations.Migration):
    dependencies = [("wallet", "0006_debit_v3"), ("ledger", "0007_entry_legs")]

    operations = [migrations.RunPython(install)]
