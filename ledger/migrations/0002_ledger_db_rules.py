"""The ledger's rules, enforced by the database itself so that no code path can bypass them.

PostgreSQL:
- entries and journal transactions refuse UPDATE and DELETE (trigger);
- a deferred constraint trigger checks at COMMIT that each transaction's entries sum to
  zero per currency and that it has at least two entries;
- an entry's currency must be its account's currency (composite foreign key).
SQLite (the embedded `make run` default) gets the append-only triggers; the balance check
there is ledger_post()'s and the reconciliation's.
"""

from django.db import migrations

from ledger.migration_guards import refuse_unapplying_over_rows

PG_FORWARD = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Post a reversing transaction instead.';
END $$;

CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_journal_append_only BEFORE UPDATE OR DELETE ON ledger_journaltransaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad_currency text;
    bad_total numeric;
    entry_count integer;
BEGIN
    SELECT currency, SUM(amount) INTO bad_currency, bad_total
        FROM ledger_entry WHERE transaction_id = NEW.id
        GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not balance: % %', NEW.id, bad_total, bad_currency
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT COUNT(*) INTO entry_count FROM ledger_entry WHERE transaction_id = NEW.id;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'journal transaction % has % entries; at least two are needed', NEW.id, entry_count
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- Deferred: the entries are inserted after their transaction, and checked once at COMMIT.
CREATE CONSTRAINT TRIGGER ledger_journal_balanced AFTER INSERT ON ledger_journaltransaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

-- Entries added later to an already committed transaction are checked too.
CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad_currency text;
    bad_total numeric;
BEGIN
    SELECT currency, SUM(amount) INTO bad_currency, bad_total
        FROM ledger_entry WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not balance: % %', NEW.transaction_id, bad_total, bad_currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (pg_trigger_depth() = 0)
    EXECUTE FUNCTION ledger_check_entry_balanced();

ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_currency_is_account_currency
    FOREIGN KEY (account_id, currency) REFERENCES ledger_account (id, currency) DEFERRABLE INITIALLY DEFERRED;

CREATE TRIGGER players_audit_append_only BEFORE UPDATE OR DELETE ON players_playerauditlog
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

PG_REVERSE = """
DROP TRIGGER IF EXISTS players_audit_append_only ON players_playerauditlog;
ALTER TABLE ledger_entry DROP CONSTRAINT IF EXISTS ledger_entry_currency_is_account_currency;
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_check_entry_balanced();
DROP TRIGGER IF EXISTS ledger_journal_balanced ON ledger_journaltransaction;
DROP FUNCTION IF EXISTS ledger_check_balanced();
DROP TRIGGER IF EXISTS ledger_journal_append_only ON ledger_journaltransaction;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""

SQLITE_TABLES = ("ledger_entry", "ledger_journaltransaction", "players_playerauditlog")


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # No parameters: the '%' in RAISE formats must reach PostgreSQL untouched.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(PG_FORWARD)
    elif vendor == "sqlite":
        for table in SQLITE_TABLES:
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: {op} on {table} refused'); END;"
                )


def reverse(apps, schema_editor):
    refuse_unapplying_over_rows(schema_editor.connection, "0002_ledger_db_rules")
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(PG_REVERSE)
    elif vendor == "sqlite":
        for table in SQLITE_TABLES:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        ("players", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, reverse)]
