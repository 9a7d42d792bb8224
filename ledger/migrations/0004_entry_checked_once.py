"""Each entry of a debit was checked three times over for the same thing, and indexed for
lookups nobody makes (about 9% of PostgreSQL's CPU per debit, pgbench; docs/performance.md):

- the account_id index: entry_account_time_idx (account_id, created_at) serves those lookups;
- the currency indexes (two: btree and LIKE) and the currency foreign key: on PostgreSQL the
  composite key (account_id, currency) -> account (id, currency) of migration 0002 ties the
  entry's currency to its account's, whose currency is itself a foreign key;
- on PostgreSQL, the single-column account foreign key, for the same composite key.
  SQLite, which has no composite key, keeps it.
"""

import django.db.models.deletion
from django.db import migrations, models


def _account_fk_names(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, "ledger_entry")
    return [name for name, c in constraints.items() if c["foreign_key"] and c["columns"] == ["account_id"]]


def drop_account_fk_on_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in _account_fk_names(schema_editor):
        schema_editor.execute(f'ALTER TABLE ledger_entry DROP CONSTRAINT "{name}"')


def restore_account_fk_on_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql" or _account_fk_names(schema_editor):
        return
    schema_editor.execute(
        "ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_account_id_fk_ledger_account_id "
        "FOREIGN KEY (account_id) REFERENCES ledger_account (id) DEFERRABLE INITIALLY DEFERRED"
    )


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_currencies'),
    ]

    operations = [
        migrations.AlterField(
            model_name='entry',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='ledger.account'),
        ),
        migrations.AlterField(
            model_name='entry',
            name='currency',
            field=models.ForeignKey(db_column='currency', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, to='ledger.currency'),
        ),
        # After the AlterFields: they may drop and re-create the key on their way.
        migrations.RunPython(drop_account_fk_on_postgresql, restore_account_fk_on_postgresql),
    ]
