-- A provider's rollback of a debit it knows was booked (contract section 3), in one round
-- trip: the same rules, in the same order, as wallet.services.rollbacks.wallet_rollback's
-- Python path, which tests/test_rollback_in_database.py compares this with.
--
-- Returns {"status": 200|4xx, "body": {...}, "replayed": bool}, or {"fallback": true} with nothing written when the referenced
-- debit is not in the journal: the tombstone and the race with a debit still being booked
-- stay with the Python path, the one place they are handled.

CREATE OR REPLACE FUNCTION wallet_rollback_v1(
    p_scope text,               -- the provider's code: idempotency scope, journal provider_code
    p_provider_id bigint,
    p_transaction_id text,
    p_fingerprint text,         -- sha256 of the request's payload, computed by the caller
    p_reference text,           -- the debit's transaction_id
    p_player_id text,
    p_player_repr text,         -- Python's repr() of the player id, for PLAYER_NOT_FOUND
    p_round_id text,
    p_trace_id text,
    p_now timestamptz
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    claim_id bigint;
    existing record;
    debit record;
    rnd record;
    wp record;
    reversal_id bigint;
    amount bigint;
    new_balance bigint;
    journal_id bigint;
    err_code text;
    err_status integer;
    err_message text;
    clearing_id bigint;
    clearing_key text;
    body jsonb;
BEGIN
    -- 1. The idempotency key. A duplicate still in flight is waited for.
    INSERT INTO ledger_idempotencyrecord (scope, key, operation, fingerprint, created_at)
        VALUES (p_scope, p_transaction_id, 'rollback', p_fingerprint, p_now)
        ON CONFLICT (scope, key) DO NOTHING
        RETURNING id INTO claim_id;
    IF claim_id IS NULL THEN
        SELECT operation, fingerprint, response_status, response_body INTO existing
            FROM ledger_idempotencyrecord WHERE scope = p_scope AND key = p_transaction_id;
        IF FOUND THEN
            IF existing.operation <> 'rollback' OR existing.fingerprint <> p_fingerprint THEN
                RETURN jsonb_build_object('status', 409, 'replayed', false, 'body', jsonb_build_object(
                    'code', 'IDEMPOTENCY_MISMATCH',
                    -- Transaction ids hold no quotes: this is Python's repr() of one.
                    'message', format('transaction_id ''%s'' was already used for a different %s request.',
                                      p_transaction_id, existing.operation)));
            END IF;
            RETURN jsonb_build_object('status', existing.response_status, 'replayed', true,
                                      'body', existing.response_body);
        END IF;
        RAISE EXCEPTION 'idempotency key %/% conflicted but cannot be read', p_scope, p_transaction_id;
    END IF;

    -- 2. The debit and its round: journal rows and a round's currency never change, so they
    -- are read before the lock. No debit: the Python path (tombstone, or a debit in flight).
    SELECT j.id, j.kind, j.round_id INTO debit
        FROM ledger_journaltransaction j
        WHERE j.provider_code = p_scope AND j.provider_transaction_id = p_reference;
    IF NOT FOUND THEN
        DELETE FROM ledger_idempotencyrecord WHERE id = claim_id;
        RETURN jsonb_build_object('fallback', true);
    END IF;
    SELECT r.id, r.player_id, r.currency INTO rnd
        FROM game_sessions_round r WHERE r.provider_id = p_provider_id AND r.round_id = debit.round_id;

    <<checks>>
    BEGIN
        -- 3. The lock every movement of this player's money takes first: wallet, then player.
        IF rnd.id IS NOT NULL THEN
            SELECT w.id AS wallet_id, w.balance, w.account_id, w.currency, p.id AS player_pk, p.player_id
                INTO wp
                FROM wallet_wallet w JOIN players_player p ON p.id = w.player_id
                WHERE p.player_id = p_player_id AND w.currency = rnd.currency
                FOR UPDATE OF w, p;
        END IF;
        IF rnd.id IS NULL OR NOT FOUND THEN
            SELECT NULL::bigint AS wallet_id, NULL::bigint AS balance, NULL::bigint AS account_id,
                   NULL::text AS currency, p.id AS player_pk, p.player_id
                INTO wp
                FROM players_player p WHERE p.player_id = p_player_id FOR UPDATE;
            IF NOT FOUND THEN
                err_code := 'PLAYER_NOT_FOUND'; err_status := 404;
                err_message := format('No player %s.', p_player_repr);
                EXIT checks;
            END IF;
        END IF;

        -- 4. Only a debit of this player, of this round, rolls back.
        IF debit.kind <> 'debit' THEN
            err_code := 'ROLLBACK_NOT_ALLOWED'; err_status := 409;
            err_message := format('%s is a %s; only debits roll back.', p_reference, debit.kind);
            EXIT checks;
        END IF;
        -- The round as it is now, under the lock (its counts change; its player never does).
        SELECT r.id, r.player_id, r.currency, r.credit_count INTO rnd
            FROM game_sessions_round r WHERE r.provider_id = p_provider_id AND r.round_id = debit.round_id;
        IF NOT FOUND OR rnd.player_id <> wp.player_pk THEN
            err_code := 'ROLLBACK_NOT_ALLOWED'; err_status := 409;
            err_message := format('%s is not a debit of %s.', p_reference, wp.player_id);
            EXIT checks;
        END IF;
        IF p_round_id <> debit.round_id THEN
            err_code := 'ROLLBACK_NOT_ALLOWED'; err_status := 409;
            err_message := format('%s belongs to round %s.', p_reference, debit.round_id);
            EXIT checks;
        END IF;
        IF wp.wallet_id IS NULL THEN
            RAISE EXCEPTION 'player % has a debit but no % wallet', wp.player_id, rnd.currency;
        END IF;

        -- 5. Once per debit: a second rollback answers with the first one's reversal.
        SELECT j.id INTO reversal_id FROM ledger_journaltransaction j WHERE j.reverses_id = debit.id;
        IF FOUND THEN
            body := jsonb_build_object('player_id', wp.player_id, 'currency', wp.currency, 'balance', wp.balance,
                                       'transaction_id', p_transaction_id,
                                       'platform_transaction_id', reversal_id::text,
                                       'status', 'already_rolled_back');
            UPDATE ledger_idempotencyrecord SET response_status = 200, response_body = body WHERE id = claim_id;
            RETURN jsonb_build_object('status', 200, 'replayed', false, 'body', body);
        END IF;
        IF rnd.credit_count > 0 THEN
            err_code := 'ROLLBACK_NOT_ALLOWED'; err_status := 409;
            err_message := format('Round %s already has a credit; its debits cannot roll back.', debit.round_id);
            EXIT checks;
        END IF;

        -- 6. The money back: balance, round, and the reversing journal transaction.
        SELECT -e.amount INTO STRICT amount
            FROM ledger_entry e WHERE e.transaction_id = debit.id AND e.account_id = wp.account_id;
        clearing_key := 'provider:' || p_scope || ':' || wp.currency;
        -- Looked up every time: the caller cannot know the currency, and rollbacks are rare.
        SELECT id INTO clearing_id FROM ledger_account WHERE key = clearing_key;
        IF clearing_id IS NULL THEN
            INSERT INTO ledger_account (key, kind, currency, name, created_at)
                VALUES (clearing_key, 'provider_clearing', wp.currency, clearing_key, p_now)
                ON CONFLICT (key) DO NOTHING
                RETURNING id INTO clearing_id;
            IF clearing_id IS NULL THEN
                SELECT id INTO clearing_id FROM ledger_account WHERE key = clearing_key;
            END IF;
        END IF;
        new_balance := wp.balance;
        IF amount <> 0 THEN
            UPDATE wallet_wallet SET balance = balance + amount, updated_at = p_now
                WHERE id = wp.wallet_id
                RETURNING balance INTO new_balance;
        END IF;
        UPDATE game_sessions_round SET rollback_count = rollback_count + 1, total_debited = total_debited - amount
            WHERE id = rnd.id;
        WITH j AS (
            INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,
                                                   reverses_id, trace_id, created_at, created_by, memo)
                VALUES ('rollback', p_scope, p_transaction_id, debit.round_id, 'rollback', debit.id, p_trace_id,
                        p_now, 'provider:' || p_scope, '')
                RETURNING id
        ), entries AS (
            INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at)
                SELECT j.id, e.leg, e.account_id, e.amount, wp.currency, p_now
                    FROM j, (VALUES (1, wp.account_id, amount), (2, clearing_id, -amount)) AS e(leg, account_id, amount)
        )
        SELECT j.id INTO journal_id FROM j;
        body := jsonb_build_object('player_id', wp.player_id, 'currency', wp.currency, 'balance', new_balance,
                                   'transaction_id', p_transaction_id, 'platform_transaction_id', journal_id::text,
                                   'status', 'rolled_back');
        UPDATE ledger_idempotencyrecord SET response_status = 200, response_body = body WHERE id = claim_id;
        RETURN jsonb_build_object('status', 200, 'replayed', false, 'body', body);
    END checks;

    -- A refusal: the key's final answer, stored with nothing else.
    body := jsonb_build_object('code', err_code, 'message', err_message, 'retryable', false, 'trace_id', p_trace_id);
    UPDATE ledger_idempotencyrecord SET response_status = err_status, response_body = body WHERE id = claim_id;
    RETURN jsonb_build_object('status', err_status, 'replayed', false, 'stored', true, 'body', body);
END $$;
