"""A debit that waited for a logout, an account's close or a stricter play-time limit to
commit on its session no longer slides the session past it and takes the bet: the slide's
UPDATE judges the row again as committed (closed, or past its end, is SESSION_EXPIRED).
wallet_debit_v1 and v3 installed again from their files, changed in place as in 0022.
Irreversible: the files hold only the current bodies."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    for name in ("wallet_debit_v1.sql", "wallet_debit_v3.sql"):
        pg_run_sql(schema_editor, (SQL / name).read_text())


class Migration(migrations.Migration):
    dependencies = [("wallet", "0024_credit_round_opened_meanwhile")]

    operations = [migrations.RunPython(install)]
