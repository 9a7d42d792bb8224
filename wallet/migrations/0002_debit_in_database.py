"""The provider debit as one PostgreSQL function (wallet/sql/wallet_debit_v1.sql): one round
trip instead of ten. SQLite keeps the Python path only.

The SQL is read from its versioned file when the migration runs: a new order ships as
wallet_debit_v2.sql (and on) in a new migration, and a change within this signature is made
in the file and installed again by a later migration (0007, 0016), so on a new database this
migration installs the current body (docs/decisions.md)."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_install_sql_file

SQL = Path(__file__).resolve().parent.parent / "sql" / "wallet_debit_v1.sql"


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0001_initial"),
        ("ledger", "0003_currencies"),
        ("players", "0002_player_has_loss_limits"),
        ("game_sessions", "0002_operatorapikey"),
        ("provider", "0005_outbound_partner_status"),
    ]

    operations = [
        pg_install_sql_file(
            SQL,
            drop=(
                "DROP FUNCTION IF EXISTS wallet_debit_v1(text, bigint, text, text, text, text, text, text, text, bigint,"
                " text, text, boolean, text, timestamptz, boolean, bigint, integer);"
                " DROP FUNCTION IF EXISTS casino_isoformat(timestamptz);"
            ),
        )
    ]
