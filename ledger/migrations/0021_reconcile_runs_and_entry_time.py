"""Reconcile runs recorded; every leg carries its transaction's time; wallets are never deleted.

- `ReconcileRun`: each finished proof of the books, for /metrics and for where the next
  run's comparison of the rounds starts.
- A leg added to a journal transaction after the fact (migration 0007 lets a balanced one
  in) must be stamped with its transaction's time. Stamped when written, it was in the
  trial balance of its own day and in no period's report, which bound entries by their
  transaction's time too. Checked by the per-entry balance check, which fires only for legs
  other than 1 and 2 (`WHEN (NEW.leg NOT IN (1, 2))`): a debit, credit or rollback pays
  nothing for it; a transaction posted with more legs reads its journal row once per leg.
- A wallet row is never deleted: its account's entries still say what the player is owed,
  and no balance would show it (reconcile now finds such an account; the guard keeps it from
  happening). DELETE is refused; so is TRUNCATE, unless the connection says
  `ledger.allow_truncate = on`, as the ledger's tables allow for the test suite's flush.

PostgreSQL only, as the ledger's other triggers (SQLite has no balance checks).
"""

from django.db import migrations, models

from ledger.migration_guards import refuse_unapplying_over_rows

PG_CHECK_ENTRY = """
CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e record;
    first_currency text;
    total bigint := 0;
    mixed boolean := false;
    bad_currency text;
    bad_total numeric;
    booked_at timestamptz;
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
    -- The period reports find a leg by its transaction's time, the trial balance by its own.
    SELECT created_at INTO booked_at FROM ledger_journaltransaction WHERE id = NEW.transaction_id;
    IF NEW.created_at IS DISTINCT FROM booked_at THEN
        RAISE EXCEPTION 'leg % of journal transaction % is stamped %, its transaction %: %',
            NEW.leg, NEW.transaction_id, NEW.created_at, booked_at, 'a leg carries its transaction''s time'
            USING ERRCODE = 'check_violation',
                  HINT = 'Post a new journal transaction instead.';
    END IF;
    RETURN NULL;
END $$;
"""

# Migration 0006's body.
PG_CHECK_ENTRY_BEFORE = """
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

PG_WALLETS_KEPT = """
CREATE FUNCTION wallet_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'wallets are never deleted: % on wallet_wallet refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Its ledger account still holds what the player is owed; pay it out or adjust it instead.';
END $$;

CREATE TRIGGER wallet_wallet_no_delete BEFORE DELETE ON wallet_wallet
    FOR EACH ROW EXECUTE FUNCTION wallet_refuse_delete();
CREATE TRIGGER wallet_wallet_no_truncate BEFORE TRUNCATE ON wallet_wallet
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_refuse_delete();
"""

PG_WALLETS_KEPT_REVERSE = """
DROP TRIGGER IF EXISTS wallet_wallet_no_truncate ON wallet_wallet;
DROP TRIGGER IF EXISTS wallet_wallet_no_delete ON wallet_wallet;
DROP FUNCTION IF EXISTS wallet_refuse_delete();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_CHECK_ENTRY + PG_WALLETS_KEPT, params=None)


def reverse(apps, schema_editor):
    refuse_unapplying_over_rows(schema_editor.connection, "0021_reconcile_runs_and_entry_time")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_WALLETS_KEPT_REVERSE + PG_CHECK_ENTRY_BEFORE, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0020_history_cannot_be_truncated_or_reread"),
        ("wallet", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReconcileRun",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField()),
                ("duration_seconds", models.FloatField()),
                ("problems", models.IntegerField(help_text="Everything it found wrong; 0: the books were right.")),
                ("accounts_checked", models.IntegerField()),
                ("rounds_checked", models.IntegerField()),
                (
                    "all_rounds",
                    models.BooleanField(
                        help_text="Every round was compared with its journal (reconcile --all-rounds), not only "
                        "those played since the last run that found none drifted."
                    ),
                ),
                (
                    "rounds_drifted",
                    models.IntegerField(
                        default=0,
                        help_text="Rounds whose figures differ from their journal: the next run compares them again.",
                    ),
                ),
                (
                    "rounds_through",
                    models.BigIntegerField(
                        help_text="The newest round's id when it started: the next run compares every round after it."
                    ),
                ),
            ],
            options={
                "ordering": ["-finished_at"],
                "indexes": [
                    models.Index(fields=["finished_at"], name="reconcile_run_finished_idx"),
                    models.Index(
                        condition=models.Q(("problems", 0)), fields=["finished_at"], name="reconcile_run_clean_idx"
                    ),
                ],
            },
        ),
        migrations.RunPython(forward, reverse),
    ]
