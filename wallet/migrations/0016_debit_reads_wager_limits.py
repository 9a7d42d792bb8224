"""The provider debit holds bets to wager limits too (players.WagerLimit): wallet_debit_v3 and
v1, which it hands refusals back to, read loss and wager limits for a player flagged
`has_bet_limits`, and are installed again from their files. v2, which nothing has called since
v3, is dropped rather than taught the new limit. Irreversible: the files hold only the current
bodies."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    for name in ("wallet_debit_v1.sql", "wallet_debit_v3.sql"):
        pg_run_sql(schema_editor, (SQL / name).read_text())
    pg_run_sql(
        schema_editor,
        "DROP FUNCTION IF EXISTS wallet_debit_v2(text, bigint, text, text, text, text, text, text, text, bigint,"
        " text, text, boolean, text, timestamptz, boolean, bigint, integer);",
    )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0015_monitoring_low_play_withdrawals"), ("players", "0010_wager_limits")]

    operations = [migrations.RunPython(install)]
