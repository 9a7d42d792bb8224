"""The counting-only debit variants are derived from the platform's function and still install."""

from bench.variants.journal_key_as_claim import V3, variant_sql


def test_the_journal_claim_variant_is_v3_without_the_stored_answer_of_an_accepted_debit():
    sql = variant_sql()
    v3 = V3.read_text()
    assert "FUNCTION wallet_debit_journal_claim(" in sql and "FUNCTION wallet_debit_v3(" not in sql
    # The claim is gone; refusals still store their answer as v3 does.
    assert "INSERT INTO ledger_idempotencyrecord" in v3 and "INSERT INTO ledger_idempotencyrecord" not in sql
    assert "response_status = 200" in v3 and "response_status = 200" not in sql
    assert "response_status = err_status" in sql
    # The replay read repeats the partial unique index's condition (its generic plan needs it).
    assert "j.provider_transaction_id <> ''" in sql
    assert "'provider:' || p_scope, '', p_fingerprint, new_balance)" in sql


def test_the_journal_claim_variant_installs_on_the_schema(postgresql_cursor):
    postgresql_cursor.execute(variant_sql())  # rolled back with the test's transaction
    postgresql_cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'wallet_debit_journal_claim'")
    assert postgresql_cursor.fetchone()[0] == 1


def test_the_locked_variant_serializes_a_keys_deliveries_and_inserts_its_refusals():
    sql = variant_sql(locked=True)
    assert "FUNCTION wallet_debit_journal_claim_locked(" in sql
    # The lock comes in a statement of its own, before the read that must see what it waited for.
    lock, read = sql.find("pg_advisory_xact_lock("), sql.find("LEFT JOIN ledger_idempotencyrecord r")
    assert 0 < lock < read
    assert "response_status = 200" not in sql and "SET response_status = err_status" not in sql
    assert "VALUES (p_scope, p_transaction_id, p_operation, p_fingerprint, p_now, err_status, body)" in sql


def test_the_locked_variant_installs_on_the_schema(postgresql_cursor):
    postgresql_cursor.execute(variant_sql(locked=True))
    postgresql_cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'wallet_debit_journal_claim_locked'")
    assert postgresql_cursor.fetchone()[0] == 1
