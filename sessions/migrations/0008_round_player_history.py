"""A player's rounds by time (round_player_history, for the game history), in place of the
player's single-column index, which it covers: a new round still writes two indexes besides
its key. Built and dropped concurrently on PostgreSQL, so rounds keep opening meanwhile; SQLite
keeps its old index too (see ledger/migrations/0004).

An interrupted concurrent build leaves round_player_history INVALID and the player's index in
place: `DROP INDEX CONCURRENTLY round_player_history;` and migrate again."""

import django.db.models.deletion
from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL, pg_drop_redundant, pg_restore_indexes

TABLE = "game_sessions_round"


def drop(apps, schema_editor):
    pg_drop_redundant(schema_editor, TABLE, indexes=("player_id",))


def restore(apps, schema_editor):
    pg_restore_indexes(schema_editor, TABLE, ("player_id",))


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY

    dependencies = [
        ("game_sessions", "0007_session_started_on_platform_clock"),
        ("players", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="round",
            index=models.Index(fields=["player", "opened_at", "id"], name="round_player_history"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="round",
                    name="player",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rounds",
                        to="players.player",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
