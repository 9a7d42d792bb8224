"""Each entry carries its leg, its place in its journal transaction (1, 2, ... n), unique per
transaction; the per-entry balance check fires only for an entry outside legs 1 and 2.

Why: every debit, credit and rollback writes two entries, and each fired its own deferred
balance check at COMMIT on top of its journal transaction's, reading the same two rows
again: 7.7% of PostgreSQL's instructions per debit (`make bench-pg`, docs/performance.md).
That check exists for one case, an entry added to a transaction after the transaction's own
check ran (at an earlier commit, or at SET CONSTRAINTS ... IMMEDIATE). The rules that now
close that case without it:

- the journal transaction's own check also requires the legs it finds to be exactly 1..n,
  n >= 2: every transaction is written with legs 1 and 2;
- (transaction_id, leg) is unique, so a later entry can't take leg 1 or 2 again;
- the per-entry check fires `WHEN (NEW.leg NOT IN (1, 2))`, decided when the row is
  inserted: any later entry (leg 3 and up, or 0 and below) is checked for balance, and a
  transaction's first two legs queue nothing. (Its old condition, `pg_trigger_depth() = 0`,
  is gone: nothing inserts entries from a trigger, and one that did is now checked too. It
  cost 1% of a debit's instructions.) Entries added later keep their transaction balanced,
  not its legs without gaps.

The unique key's index replaces the plain index on transaction_id (its leading column).
Existing entries are numbered in id order; the append-only trigger is lifted for that one
UPDATE inside this migration's transaction, which holds the table's exclusive lock until it
commits (every row is written again: on a large journal, a maintenance window and a VACUUM
afterwards). SQLite gets the column, the numbering and the unique index; it has no balance
triggers.

Deploy with the application stopped: from here on an entry without a leg is refused, and
the wallet's functions write legs only from migration wallet 0007 on. Not reversible past
those functions.
"""

import importlib

from django.db import migrations, models

from casino_platform.db import pg_run_sql, pg_single_column_constraints

TABLE = "ledger_entry"

PG_CHECK_BALANCED = """
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e record;
    first_currency text;
    total bigint := 0;
    entry_count integer := 0;
    mixed boolean := false;
    bad_currency text;
    bad_total numeric;
BEGIN
    -- In leg order, along entry_transaction_leg_unique: the legs must be 1, 2, ... n.
    FOR e IN SELECT leg, currency, amount FROM ledger_entry WHERE transaction_id = NEW.id ORDER BY leg LOOP
        entry_count := entry_count + 1;
        IF e.leg <> entry_count THEN
            RAISE EXCEPTION 'journal transaction % has leg % where leg % belongs: legs are numbered 1, 2, ...',
                NEW.id, e.leg, entry_count USING ERRCODE = 'check_violation';
        END IF;
        IF first_currency IS NULL THEN
            first_currency := e.currency;
        ELSIF e.currency <> first_currency THEN
            mixed := true;  -- only the grouped query below can sum each currency
        END IF;
        IF NOT mixed THEN
            total := total + e.amount;
        END IF;
    END LOOP;
    IF mixed THEN
        SELECT currency, SUM(amount) INTO bad_currency, bad_total
            FROM ledger_entry WHERE transaction_id = NEW.id
            GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
    ELSIF total <> 0 THEN
        bad_currency := first_currency;
        bad_total := total;
    END IF;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'journal transaction % does not balance: % %', NEW.id, bad_total, bad_currency
            USING ERRCODE = 'check_violation';
    END IF;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'journal transaction % has % entries; at least two are needed', NEW.id, entry_count
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

PG_FORWARD = f"""
ALTER TABLE ledger_entry ADD COLUMN leg smallint;
ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only;
UPDATE ledger_entry e SET leg = n.leg
    FROM (SELECT id, row_number() OVER (PARTITION BY transaction_id ORDER BY id) AS leg FROM ledger_entry) n
    WHERE n.id = e.id;
ALTER TABLE ledger_entry ENABLE TRIGGER ledger_entry_append_only;
ALTER TABLE ledger_entry ALTER COLUMN leg SET NOT NULL;
ALTER TABLE ledger_entry ADD CONSTRAINT entry_transaction_leg_unique UNIQUE (transaction_id, leg);
DROP TRIGGER ledger_entry_balanced ON ledger_entry;
CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.leg NOT IN (1, 2))
    EXECUTE FUNCTION ledger_check_entry_balanced();
{PG_CHECK_BALANCED}
"""

PG_REVERSE = """
DROP TRIGGER ledger_entry_balanced ON ledger_entry;
CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (pg_trigger_depth() = 0)
    EXECUTE FUNCTION ledger_check_entry_balanced();
CREATE INDEX ledger_entry_transaction_id_idx ON ledger_entry (transaction_id);
ALTER TABLE ledger_entry DROP CONSTRAINT entry_transaction_leg_unique;
ALTER TABLE ledger_entry DROP COLUMN leg;
"""

SQLITE_FORWARD = [
    "ALTER TABLE ledger_entry ADD COLUMN leg smallint NOT NULL DEFAULT 0",
    "DROP TRIGGER ledger_entry_no_update",
    "UPDATE ledger_entry SET leg = (SELECT COUNT(*) FROM ledger_entry e WHERE e.transaction_id ="
    " ledger_entry.transaction_id AND e.id <= ledger_entry.id)",
    # As migration 0002 created it.
    "CREATE TRIGGER ledger_entry_no_update BEFORE UPDATE ON ledger_entry "
    "BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: UPDATE on ledger_entry refused'); END;",
    "CREATE UNIQUE INDEX entry_transaction_leg_unique ON ledger_entry (transaction_id, leg)",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        pg_run_sql(schema_editor, PG_FORWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        return
    for name in pg_single_column_constraints(schema_editor, TABLE, "transaction_id", foreign_key=False):
        schema_editor.execute(f'DROP INDEX "{name}"')


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        previous = importlib.import_module("ledger.migrations.0006_balance_checks_without_aggregates")
        pg_run_sql(schema_editor, previous.FORWARD + PG_REVERSE)
    elif vendor == "sqlite":
        schema_editor.execute("DROP INDEX entry_transaction_leg_unique")
        schema_editor.execute("CREATE INDEX ledger_entry_transaction_id_idx ON ledger_entry (transaction_id)")
        schema_editor.execute("ALTER TABLE ledger_entry DROP COLUMN leg")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_balance_checks_without_aggregates")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="entry",
                    name="transaction",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="entries",
                        to="ledger.journaltransaction",
                    ),
                ),
                migrations.AddField(
                    model_name="entry",
                    name="leg",
                    field=models.SmallIntegerField(
                        default=1, help_text="The entry's place in its journal transaction: 1, 2, ..."
                    ),
                    preserve_default=False,
                ),
                migrations.AddConstraint(
                    model_name="entry",
                    constraint=models.UniqueConstraint(
                        fields=("transaction", "leg"), name="entry_transaction_leg_unique"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forward, reverse)],
        ),
    ]
