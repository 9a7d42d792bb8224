"""A game's sessions by their end (session_game_live, for closing those a country restriction
no longer allows), in place of the game's single-column index, which it covers: a launch
still writes as many indexes. Built and dropped concurrently on PostgreSQL; SQLite keeps its
old index too (see ledger/migrations/0004).

An interrupted concurrent build leaves session_game_live INVALID and the game's index in
place: `DROP INDEX CONCURRENTLY session_game_live;` and migrate again."""

import django.db.models.deletion
from django.db import migrations, models

from casino_platform.db import AddIndexConcurrentlyOnPostgreSQL, pg_drop_redundant, pg_restore_indexes

TABLE = "game_sessions_gamesession"


def drop(apps, schema_editor):
    pg_drop_redundant(schema_editor, TABLE, indexes=("game_id",))


def restore(apps, schema_editor):
    pg_restore_indexes(schema_editor, TABLE, ("game_id",))


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY

    dependencies = [
        ("game_sessions", "0008_round_player_history"),
        ("provider", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="gamesession",
            index=models.Index(fields=["game", "absolute_expires_at"], name="session_game_live"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="gamesession",
                    name="game",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sessions",
                        to="provider.game",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
