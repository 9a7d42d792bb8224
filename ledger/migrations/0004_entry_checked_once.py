"""Each entry of a debit was checked three times over for the same thing, and indexed for
lookups nobody makes (about 9% of PostgreSQL's CPU per debit, pgbench; docs/performance.md):

- the account_id index: entry_account_time_idx (account_id, created_at) serves those lookups;
- the currency indexes (two: btree and LIKE) and the currency foreign key: on PostgreSQL the
  composite key (account_id, currency) -> account (id, currency) of migration 0002 ties the
  entry's currency to its account's, whose currency is itself a foreign key;
- on PostgreSQL, the single-column account foreign key, for the same composite key (Django's
  state still lists it: db_constraint stays True on the field for the databases without one).

PostgreSQL only, without rewriting or re-validating anything: indexes dropped concurrently,
keys dropped under a short lock timeout. SQLite keeps its indexes and keys; there an
AlterField would rebuild ledger_entry and lose its append-only triggers.
"""

import django.db.models.deletion
from django.db import migrations, models

from casino_platform.db import pg_drop_redundant, pg_restore_indexes

TABLE = "ledger_entry"


def drop(apps, schema_editor):
    pg_drop_redundant(schema_editor, TABLE, indexes=("account_id", "currency"), foreign_keys=("account_id", "currency"))


def restore(apps, schema_editor):
    pg_restore_indexes(schema_editor, TABLE, ("account_id", "currency"))
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_account_id_fk_ledger_account_id "
            "FOREIGN KEY (account_id) REFERENCES ledger_account (id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )
        schema_editor.execute(
            "ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_currency_fk_ledger_currency_code "
            "FOREIGN KEY (currency) REFERENCES ledger_currency (code) DEFERRABLE INITIALLY DEFERRED NOT VALID"
        )


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("ledger", "0003_currencies"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="entry",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="ledger.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="entry",
                    name="currency",
                    field=models.ForeignKey(
                        db_column="currency",
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="ledger.currency",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, restore)],
        ),
    ]
