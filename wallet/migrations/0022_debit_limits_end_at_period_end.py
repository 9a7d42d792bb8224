"""A loss or wager limit counts only what is booked in its period, up to the period's end:
casino_limit_period_end beside casino_limit_period_start (in wallet_debit_v1.sql), and
wallet_debit_v1 and v3 installed again from their files, changed in place as in 0016. A win
judged just after midnight that committed while a bet of the day before waited for the
wallet's lock no longer makes room for that bet. Irreversible: the files hold only the
current bodies."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    for name in ("wallet_debit_v1.sql", "wallet_debit_v3.sql"):
        pg_run_sql(schema_editor, (SQL / name).read_text())


class Migration(migrations.Migration):
    dependencies = [("wallet", "0021_withdrawal_event_unsent")]

    operations = [migrations.RunPython(install)]
