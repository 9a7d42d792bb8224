"""A wallet's player and currency keep their foreign keys but lose their own indexes: the
unique key (player, currency) serves lookups by player, and a currency alone matches too many
wallets for an index to help. Every UPDATE of a wallet opens each index of the table, and
every money movement updates one (docs/performance.md, 2026-12-03 evening: 0.6% of
PostgreSQL's instructions per debit).

Only the indexes are dropped. Django's own AlterField would also drop and re-add both foreign
keys, validating them against every wallet while holding a lock that stops writes to wallets."""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = ("wallet_wallet_player_id_925c298e", "wallet_wallet_currency_cd0921e8", "wallet_wallet_currency_cd0921e8_like")


def drop_indexes(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_indexes(apps, schema_editor):
    schema_editor.execute(f'CREATE INDEX "{INDEXES[0]}" ON "wallet_wallet" ("player_id")')
    schema_editor.execute(f'CREATE INDEX "{INDEXES[1]}" ON "wallet_wallet" ("currency")')
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'CREATE INDEX "{INDEXES[2]}" ON "wallet_wallet" ("currency" varchar_pattern_ops)')


class Migration(migrations.Migration):
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
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
    ]
