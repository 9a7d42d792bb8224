"""A wallet's player and currency keep their foreign keys but lose their own indexes: the
unique key (player, currency) serves lookups by player, and a currency alone matches too many
wallets for an index to help. Every UPDATE of a wallet opens each index of the table, and
every money movement updates one (docs/performance.md, 2026-12-03 evening: 0.6% of
PostgreSQL's instructions per debit).

Only the indexes are dropped, concurrently, on PostgreSQL (as sessions/migrations/0003 does):
Django's own AlterField would also drop and re-add both foreign keys, validating them against
every wallet while holding a lock that stops writes to wallets."""

import django.db.models.deletion
from django.db import migrations, models

from casino_platform.db import pg_drop_redundant, pg_restore_indexes

TABLE = "wallet_wallet"


def drop(apps, schema_editor):
    pg_drop_redundant(schema_editor, TABLE, indexes=("player_id", "currency"))


def restore(apps, schema_editor):
    pg_restore_indexes(schema_editor, TABLE, ("player_id", "currency"))


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("ledger", "0007_entry_legs"),
        ("players", "0002_player_has_loss_limits"),
        ("wallet", "0007_functions_write_legs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="wallet",
                    name="currency",
                    field=models.ForeignKey(
                        db_column="currency",
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="ledger.currency",
                    ),
                ),
                migrations.AlterField(
                    model_name="wallet",
                    name="player",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="wallets",
                        to="players.player",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
