"""A debit function for counting only: `wallet_debit_v3` without the stored answer of an
accepted debit, the journal's unique (provider_code, provider_transaction_id) key serving as
its claim (docs/performance.md, 2026-12-04, night).

Prints the `--setup-sql` for `make bench-pg`: two journal columns (the request's fingerprint
and the balance after, which a replay would need) and `wallet_debit_journal_claim`, derived
from the platform's own `wallet/sql/wallet_debit_v3.sql`, so that the count follows it:

    .venv/bin/python bench/variants/journal_key_as_claim.py > /tmp/journal-claim.sql
    make bench-pg BENCH_ARGS="--setup-sql /tmp/journal-claim.sql --function wallet_debit_journal_claim"

Only an accepted debit of a free wallet (what `make bench-pg` books) is changed; refusals
and the busy wallet's early ledger run as in v3. Never installed by a migration.

`--locked` prints the variant made safe for two deliveries of one debit in flight at once,
`wallet_debit_journal_claim_locked` (docs/performance.md, 2026-12-04, late night). An
accepted debit and a refusal of the same key write to two tables, so no unique key stops
both from committing (bench/tests/test_variants.py races the unsafe one into an error on
the journal's key). The key is first locked (a transaction-level advisory lock on its hash),
so that its deliveries run one after the other; a new statement then reads the journal and
the stored refusals (a different operation or fingerprint is IDEMPOTENCY_MISMATCH, as in
v3), and a refusal inserts its answer instead of updating a claim. Still for counting: a
replay of a booked debit answers only its journal id, and credit, rollback and the Python
path know nothing of it.

    .venv/bin/python bench/variants/journal_key_as_claim.py --locked > /tmp/journal-claim-locked.sql
    make bench-pg BENCH_ARGS="--setup-sql /tmp/journal-claim-locked.sql --function wallet_debit_journal_claim_locked"
"""

import sys
from pathlib import Path

V3 = Path(__file__).resolve().parents[2] / "wallet" / "sql" / "wallet_debit_v3.sql"

REPLAY_READ = """    -- The journal's key as the claim: a booked debit is a replay. The partial index's condition
    -- is repeated, or the statement's generic plan cannot use the index.
    SELECT j.id, j.fingerprint, j.balance_after INTO existing FROM ledger_journaltransaction j
        WHERE j.provider_code = p_scope AND j.provider_transaction_id = p_transaction_id
          AND j.provider_transaction_id <> '';
    IF FOUND THEN
        RETURN jsonb_build_object('status', 200, 'replayed', true);
    END IF;

"""

V1_ORDER_JOURNAL = """                INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,
                                                       reverses_id, trace_id, created_at, created_by, memo)
                    VALUES ('debit', p_scope, p_transaction_id, p_round_id, p_reason, NULL, p_trace_id, p_now,
                            'provider:' || p_scope, '')"""  # noqa: E501 (v3's own lines)

V1_ORDER_JOURNAL_WITH_ANSWER = """                INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,
                                                       reverses_id, trace_id, created_at, created_by, memo,
                                                       fingerprint, balance_after)
                    VALUES ('debit', p_scope, p_transaction_id, p_round_id, p_reason, NULL, p_trace_id, p_now,
                            'provider:' || p_scope, '', p_fingerprint, new_balance)"""  # noqa: E501

# Duplicates of one key one after the other, then the journal and the stored refusals read by
# a statement that starts after the lock is held (READ COMMITTED: it sees what the holder before
# committed).
LOCKED_REPLAY_READ = """    PERFORM pg_advisory_xact_lock(hashtextextended(p_scope || ':' || p_transaction_id, 0));
    SELECT j.id, j.kind, j.fingerprint AS booked_fingerprint, r.operation, r.fingerprint, r.response_status,
           r.response_body
        INTO existing
        FROM (SELECT 1) one
        LEFT JOIN ledger_journaltransaction j
            ON j.provider_code = p_scope AND j.provider_transaction_id = p_transaction_id
           AND j.provider_transaction_id <> ''
        LEFT JOIN ledger_idempotencyrecord r ON r.scope = p_scope AND r.key = p_transaction_id;
    IF existing.id IS NOT NULL OR existing.operation IS NOT NULL THEN
        IF COALESCE(existing.kind::text, existing.operation) <> p_operation
           OR COALESCE(existing.booked_fingerprint, existing.fingerprint) IS DISTINCT FROM p_fingerprint THEN
            RETURN jsonb_build_object('status', 409, 'replayed', false, 'body', jsonb_build_object(
                'code', 'IDEMPOTENCY_MISMATCH',
                'message', format('transaction_id ''%s'' was already used for a different %s request.',
                                  p_transaction_id, COALESCE(existing.kind::text, existing.operation))));
        END IF;
        IF existing.id IS NOT NULL THEN
            -- Shipped, the answer would be rebuilt from the journal row (its balance_after).
            RETURN jsonb_build_object('status', 200, 'replayed', true,
                                      'body', jsonb_build_object('platform_transaction_id', existing.id::text));
        END IF;
        RETURN jsonb_build_object('status', existing.response_status, 'replayed', true,
                                  'body', existing.response_body);
    END IF;
    IF p_maintenance THEN
        RETURN jsonb_build_object('status', 503, 'replayed', false, 'body', jsonb_build_object(
            'code', 'MAINTENANCE', 'message', 'Debits are paused for maintenance; retry later.'));
    END IF;

"""

STORED_REFUSAL = (
    "        UPDATE ledger_idempotencyrecord SET response_status = err_status, response_body = body "
    "WHERE id = claim_id;\n"
)
INSERTED_REFUSAL = (
    "        INSERT INTO ledger_idempotencyrecord (scope, key, operation, fingerprint, created_at, response_status,\n"
    "                                              response_body)\n"
    "            VALUES (p_scope, p_transaction_id, p_operation, p_fingerprint, p_now, err_status, body);\n"
)

STORED_ANSWER = (
    "        UPDATE ledger_idempotencyrecord SET response_status = 200, response_body = body WHERE id = claim_id;\n"
)


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise SystemExit(f"{V3.name} changed: expected one of {old.strip().splitlines()[0]!r}")
    return text.replace(old, new)


def variant_sql(*, locked: bool = False) -> str:
    name = "wallet_debit_journal_claim_locked" if locked else "wallet_debit_journal_claim"
    sql = replace_once(V3.read_text(), "FUNCTION wallet_debit_v3(", f"FUNCTION {name}(")
    start, end = sql.find("    -- 1. The idempotency key."), sql.find("    <<checks>>")
    if start < 0 or end < start:
        raise SystemExit(f"{V3.name} changed: its idempotency claim was not found")
    sql = sql[:start] + (LOCKED_REPLAY_READ if locked else REPLAY_READ) + sql[end:]
    sql = replace_once(sql, STORED_ANSWER, "")
    if locked:
        sql = replace_once(sql, STORED_REFUSAL, INSERTED_REFUSAL)
    sql = replace_once(sql, V1_ORDER_JOURNAL, V1_ORDER_JOURNAL_WITH_ANSWER)
    columns = (
        "ALTER TABLE ledger_journaltransaction ADD COLUMN IF NOT EXISTS fingerprint text, "
        "ADD COLUMN IF NOT EXISTS balance_after bigint;\n"
    )
    return columns + sql


if __name__ == "__main__":
    sys.stdout.write(variant_sql(locked="--locked" in sys.argv[1:]))
