"""Two gaps in the ledger's database rules, closed.

- TRUNCATE fires no row trigger: it emptied the journal, its entries, the setting-change
  trail and the players' audit log unseen (CASCADE from an account too). A statement trigger
  refuses it on each, unless the connection says `ledger.allow_truncate = on`: the test
  suite's, whose transactional tests are undone by TRUNCATE (settings_test), and nothing else.
- An account's kind, key and currency, and a currency's exponent once an account holds it,
  say what every entry booked on them means: a kind changed moved a wallet's whole history out
  of the GGR and cashier reports, an exponent changed made every past amount ten times
  smaller. They are fixed once written (an account's name may still change).
"""

from django.db import migrations

from ledger.migration_guards import refuse_unapplying_over_rows

APPEND_ONLY = ["ledger_entry", "ledger_journaltransaction", "ledger_settingchange", "players_playerauditlog"]

PG_FORWARD = """
CREATE FUNCTION ledger_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger rows are append-only: TRUNCATE on % refused', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Post a reversing transaction instead.';
END $$;

CREATE FUNCTION ledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % is fixed once written: the entries booked on it are read by it',
        TG_ARGV[0], TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Open a new account (or currency) instead.';
END $$;

CREATE TRIGGER ledger_account_fixed BEFORE UPDATE OF kind, key, currency ON ledger_account
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.key IS DISTINCT FROM NEW.key
                       OR OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION ledger_refuse_rewrite('the kind, key and currency');

CREATE FUNCTION ledger_currency_exponent_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_account WHERE currency = OLD.code) THEN
        RAISE EXCEPTION 'the exponent of currency % is fixed once an account holds it', OLD.code
            USING ERRCODE = 'restrict_violation',
                  HINT = 'Every amount booked in it is read in minor units of this exponent.';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_currency_exponent_fixed BEFORE UPDATE OF exponent ON ledger_currency
    FOR EACH ROW WHEN (OLD.exponent IS DISTINCT FROM NEW.exponent)
    EXECUTE FUNCTION ledger_currency_exponent_fixed();
""" + "".join(
    f"\nCREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate();\n"
    for table in APPEND_ONLY
)

PG_REVERSE = (
    "".join(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n" for table in APPEND_ONLY)
    + """
DROP TRIGGER IF EXISTS ledger_currency_exponent_fixed ON ledger_currency;
DROP FUNCTION IF EXISTS ledger_currency_exponent_fixed();
DROP TRIGGER IF EXISTS ledger_account_fixed ON ledger_account;
DROP FUNCTION IF EXISTS ledger_refuse_rewrite();
DROP FUNCTION IF EXISTS ledger_refuse_truncate();
"""
)

# SQLite has no TRUNCATE (a DELETE without WHERE fires the append-only triggers).
SQLITE_FORWARD = [
    "CREATE TRIGGER ledger_account_fixed BEFORE UPDATE OF kind, key, currency ON ledger_account "
    "WHEN OLD.kind IS NOT NEW.kind OR OLD.key IS NOT NEW.key OR OLD.currency IS NOT NEW.currency "
    "BEGIN SELECT RAISE(ABORT, 'the kind, key and currency of ledger_account is fixed once written'); END;",
    "CREATE TRIGGER ledger_currency_exponent_fixed BEFORE UPDATE OF exponent ON ledger_currency "
    "WHEN OLD.exponent IS NOT NEW.exponent AND EXISTS (SELECT 1 FROM ledger_account WHERE currency = OLD.code) "
    "BEGIN SELECT RAISE(ABORT, 'the exponent of a currency is fixed once an account holds it'); END;",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS ledger_currency_exponent_fixed",
    "DROP TRIGGER IF EXISTS ledger_account_fixed",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    refuse_unapplying_over_rows(schema_editor.connection, "0020_history_cannot_be_truncated_or_reread")
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0019_staff_names_of_any_length"),
        ("players", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, reverse)]
