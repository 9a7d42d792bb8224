"""Rounds are found by (provider, round_id), whose unique index leads with the provider, and
never by currency: the provider and currency indexes were written on every new round for
nothing. PostgreSQL only, dropped concurrently (see ledger/migrations/0004); the foreign
keys stay."""

import django.db.models.deletion
from django.db import migrations, models

from casino_platform.db import pg_drop_redundant, pg_restore_indexes

TABLE = "game_sessions_round"


def drop(apps, schema_editor):
    pg_drop_redundant(schema_editor, TABLE, indexes=("provider_id", "currency"))


def restore(apps, schema_editor):
    pg_restore_indexes(schema_editor, TABLE, ("provider_id", "currency"))


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("game_sessions", "0002_operatorapikey"),
        ("ledger", "0004_entry_checked_once"),
        ("provider", "0005_outbound_partner_status"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="round",
                    name="currency",
                    field=models.ForeignKey(
                        db_column="currency",
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="ledger.currency",
                    ),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="provider",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rounds",
                        to="provider.provider",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
