"""A debit into a round another game opened is refused (VALIDATION_ERROR, unstored, as one
into another player's round): a round is one game's, in the reports too. wallet_debit_v1 and
v3 installed again from their files, changed in place as in 0022. Irreversible: the files
hold only the current bodies."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    for name in ("wallet_debit_v1.sql", "wallet_debit_v3.sql"):
        pg_run_sql(schema_editor, (SQL / name).read_text())


class Migration(migrations.Migration):
    dependencies = [("wallet", "0030_debit_self_exclusion_resumes_on_request")]

    operations = [migrations.RunPython(install)]
