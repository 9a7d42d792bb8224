"""A debit refused because the player closed their account says so (the code stays
PLAYER_BLOCKED, the contract's one code for a player who may not play): wallet_debit_v1 and
v3 are installed again from their files, changed in place as in 0016 since only the refusal's
message differs. Irreversible: the files hold only the current bodies."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    for name in ("wallet_debit_v1.sql", "wallet_debit_v3.sql"):
        pg_run_sql(schema_editor, (SQL / name).read_text())


class Migration(migrations.Migration):
    dependencies = [("wallet", "0016_debit_reads_wager_limits")]

    operations = [migrations.RunPython(install)]
