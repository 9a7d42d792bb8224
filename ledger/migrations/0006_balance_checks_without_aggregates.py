"""The ledger's balance checks (migration 0002) read a journal's entries with one index scan
and sum them in PL/pgSQL, instead of GROUP BY/HAVING and COUNT(*) queries.

Every debit fires three of these checks at COMMIT (its journal transaction's and each of
its two entries'). PostgreSQL starts an executor for every query a check runs, and the
aggregate plans (Limit, GroupAggregate, Sort, Aggregate over an index scan) cost more to
start than the two rows they read: the same rules counted 3.9% fewer of PostgreSQL's
instructions per debit this way (`make bench-pg`, docs/performance.md). A journal in
several currencies still has each currency's sum checked by the grouped query, which the
loop hands over to when it meets a second currency. The sums are bigint: an entry is at
most 10^15 minor units, and an overflow raises, never wraps.

The two functions repeat the loop on purpose: one function called from both checks
counted 2.3% more per debit (a PL/pgSQL call for each of the three checks).

PostgreSQL only; SQLite has none of these triggers.
"""

from django.db import migrations

FORWARD = """
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
    FOR e IN SELECT currency, amount FROM ledger_entry WHERE transaction_id = NEW.id LOOP
        entry_count := entry_count + 1;
        IF first_currency IS NULL THEN
            first_currency := e.currency;
        ELSIF e.currency <> first_currency THEN
            mixed := true;  -- two entries at least: only the sums are left to check
            EXIT;
        END IF;
        total := total + e.amount;
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

CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e record;
    first_currency text;
    total bigint := 0;
    mixed boolean := false;
    bad_currency text;
    bad_total numeric;
BEGIN
    FOR e IN SELECT currency, amount FROM ledger_entry WHERE transaction_id = NEW.transaction_id LOOP
        IF first_currency IS NULL THEN
            first_currency := e.currency;
        ELSIF e.currency <> first_currency THEN
            mixed := true;
            EXIT;
        END IF;
        total := total + e.amount;
    END LOOP;
    IF mixed THEN
        SELECT currency, SUM(amount) INTO bad_currency, bad_total
            FROM ledger_entry WHERE transaction_id = NEW.transaction_id
            GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
    ELSIF total <> 0 THEN
        bad_currency := first_currency;
        bad_total := total;
    END IF;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'journal transaction % does not balance: % %', NEW.transaction_id, bad_total, bad_currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

# Migration 0002's bodies.
REVERSE = """
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


def run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # No parameters: the '%' in RAISE formats must reach PostgreSQL untouched.
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_no_check_per_write")]

    operations = [migrations.RunPython(run(FORWARD), run(REVERSE))]
