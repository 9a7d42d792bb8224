"""A debit refuses a player whose self-exclusion has ended until play resumes
(players.Player.self_exclusion_resumes_at: the player's request to play again plus the
cooling-off, where RG_SELF_EXCLUSION_RESUME_ON_REQUEST asks for one), and refuses a debit into
a round another game opened (VALIDATION_ERROR, unstored, as one into another player's round):
a round is one game's, in the reports too. wallet_debit_v1 and v3 installed again from their
files, changed in place as in 0022. Irreversible: the files hold only the current bodies."""

from pathlib import Path

from django.db import migrations

from casino_platform.db import pg_run_sql

SQL = Path(__file__).resolve().parent.parent / "sql"


def install(apps, schema_editor):
    for name in ("wallet_debit_v1.sql", "wallet_debit_v3.sql"):
        pg_run_sql(schema_editor, (SQL / name).read_text())


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0029_tombstone_player_index"),
        ("players", "0018_self_exclusion_resumes_at"),
    ]

    operations = [migrations.RunPython(install)]
