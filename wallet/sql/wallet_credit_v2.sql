-- A provider's credit, version 2: wallet_credit_v1, except that a win or cash_out needs a
-- round with a debit that stands. A round whose every debit was rolled back has none: the
-- contract refuses a rollback after a credit, and this refuses the same pair in the other
-- order, a win paid on a cancelled bet (ROUND_NOT_FOUND, as for a round with no debit).
--
-- A provider's credit (contract section 3) in one round trip: the same rules, in the same
-- order, as wallet.services.credits.wallet_credit's Python path, which SQLite still runs and
-- which tests/test_credit_in_database.py compares this with, answer for answer.
--
-- Returns {"status": 200|4xx, "body": {...}, "replayed": bool} (and, when accepted, the
-- clearing account's id, for the caller to remember), or {"fallback": true} with nothing
-- written when the player has no wallet in the currency yet: the caller then runs the Python
-- path, the one place wallets and their ledger accounts are created.
--
-- Owed money is always paid: no session state, player status or maintenance refuses a credit.

CREATE OR REPLACE FUNCTION wallet_credit_v2(
    p_scope text,               -- the provider's code: idempotency scope, journal provider_code
    p_provider_id bigint,
    p_transaction_id text,
    p_fingerprint text,         -- sha256 of the request's payload, computed by the caller
    p_token_hash text,          -- optional: only the session's currency is checked
    p_player_id text,
    p_player_repr text,         -- Python's repr() of the player id and the currency, for
    p_currency_repr text,       -- the refusals that quote them as the Python path does
    p_round_id text,
    p_game_id text,
    p_amount bigint,            -- >= 0: zero closes a lost round
    p_currency text,
    p_reason text,
    p_round_closed boolean,
    p_trace_id text,
    p_now timestamptz,
    p_clearing_account_id bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    claim_id bigint;
    existing record;
    wp record;
    rnd record;
    new_round_id bigint;
    session_currency text;
    new_balance bigint;
    journal_id bigint;
    err_code text;
    err_status integer;
    err_message text;
    clearing_id bigint := p_clearing_account_id;
    clearing_key text := 'provider:' || p_scope || ':' || p_currency;
    body jsonb;
BEGIN
    -- 1. The idempotency key. A duplicate still in flight is waited for.
    INSERT INTO ledger_idempotencyrecord (scope, key, operation, fingerprint, created_at)
        VALUES (p_scope, p_transaction_id, 'credit', p_fingerprint, p_now)
        ON CONFLICT (scope, key) DO NOTHING
        RETURNING id INTO claim_id;
    IF claim_id IS NULL THEN
        SELECT operation, fingerprint, response_status, response_body INTO existing
            FROM ledger_idempotencyrecord WHERE scope = p_scope AND key = p_transaction_id;
        IF FOUND THEN
            IF existing.operation <> 'credit' OR existing.fingerprint <> p_fingerprint THEN
                RETURN jsonb_build_object('status', 409, 'replayed', false, 'body', jsonb_build_object(
                    'code', 'IDEMPOTENCY_MISMATCH',
                    -- Transaction ids hold no quotes: this is Python's repr() of one.
                    'message', format('transaction_id ''%s'' was already used for a different %s request.',
                                      p_transaction_id, existing.operation)));
            END IF;
            RETURN jsonb_build_object('status', existing.response_status, 'replayed', true,
                                      'body', existing.response_body);
        END IF;
        -- ON CONFLICT saw a committed key that is gone now: keys are never deleted once answered.
        RAISE EXCEPTION 'idempotency key %/% conflicted but cannot be read', p_scope, p_transaction_id;
    END IF;

    -- 2. The currency must exist (enabled or not: a credit in a retired currency is still owed).
    IF NOT EXISTS (SELECT 1 FROM ledger_currency WHERE code = p_currency) THEN
        -- Not the key's answer: a corrected retry with the same transaction_id is judged afresh.
        DELETE FROM ledger_idempotencyrecord WHERE id = claim_id;
        RETURN jsonb_build_object('status', 400, 'replayed', false, 'stored', false, 'body', jsonb_build_object(
            'code', 'VALIDATION_ERROR',
            'message', format('Currency %s is not enabled on this platform.', p_currency_repr),
            'retryable', false, 'trace_id', p_trace_id, 'details', '{"currency": ["not enabled"]}'::jsonb));
    END IF;

    <<checks>>
    BEGIN
        -- 3. The lock every movement of this player's money takes first: wallet, then player.
        SELECT w.id AS wallet_id, w.balance, w.account_id, p.id AS player_pk, p.player_id
            INTO wp
            FROM wallet_wallet w JOIN players_player p ON p.id = w.player_id
            WHERE p.player_id = p_player_id AND w.currency = p_currency
            FOR UPDATE OF w, p;
        IF NOT FOUND THEN
            PERFORM 1 FROM players_player p WHERE p.player_id = p_player_id FOR UPDATE;
            IF FOUND THEN
                DELETE FROM ledger_idempotencyrecord WHERE id = claim_id;
                RETURN jsonb_build_object('fallback', true);
            END IF;
            err_code := 'PLAYER_NOT_FOUND'; err_status := 404;
            err_message := format('No player %s.', p_player_repr);
            EXIT checks;
        END IF;

        -- 4. The session, if named: only its currency is checked (it may have ended since).
        IF p_token_hash IS NOT NULL THEN
            SELECT s.currency INTO session_currency
                FROM game_sessions_gamesession s
                WHERE s.token_hash = p_token_hash AND s.provider_id = p_provider_id;
            IF FOUND AND session_currency <> p_currency THEN
                err_code := 'CURRENCY_MISMATCH'; err_status := 422;
                err_message := format('The session plays in %s, not %s.', session_currency, p_currency);
                EXIT checks;
            END IF;
        END IF;

        -- 5. The round: the player's own, settled only after a debit, in the credit's currency.
        -- Judged again if another wallet's call (another player's, or this player's in another
        -- currency) opened it after it was read here and committed first: as if it had come first.
        <<round_pick>>
        LOOP
            SELECT r.id, r.player_id, r.currency, r.status, r.debit_count, r.rollback_count INTO rnd
                FROM game_sessions_round r WHERE r.provider_id = p_provider_id AND r.round_id = p_round_id;
            IF FOUND AND rnd.player_id <> wp.player_pk THEN
                err_code := 'ROUND_NOT_FOUND'; err_status := 404;
                err_message := format('No round %s for player %s.', p_round_id, p_player_id);
                EXIT checks;
            END IF;
            -- Each debit is rolled back at most once (the journal's unique reverses_id), so the
            -- debits that stand are debit_count - rollback_count.
            IF p_reason IN ('win', 'cash_out') AND (rnd.id IS NULL OR rnd.debit_count <= rnd.rollback_count) THEN
                err_code := 'ROUND_NOT_FOUND'; err_status := 404;
                err_message := format('A %s needs a round with an accepted debit that was not rolled back; %s has none.',
                                      p_reason, p_round_id);
                EXIT checks;
            END IF;
            IF rnd.id IS NOT NULL AND rnd.currency <> p_currency THEN
                err_code := 'CURRENCY_MISMATCH'; err_status := 422;
                err_message := format('Round %s plays in %s.', p_round_id, rnd.currency);
                EXIT checks;
            END IF;
            IF rnd.id IS NULL THEN
                INSERT INTO game_sessions_round (provider_id, round_id, player_id, currency, game_id, status,
                                                 debit_count, credit_count, rollback_count, total_debited,
                                                 total_credited, opened_at, closed_at)
                    VALUES (p_provider_id, p_round_id, wp.player_pk, p_currency, p_game_id,
                            CASE WHEN p_round_closed THEN 'closed' ELSE 'open' END, 0, 1, 0, 0, p_amount, p_now,
                            CASE WHEN p_round_closed THEN p_now END)
                    ON CONFLICT (provider_id, round_id) DO NOTHING
                    RETURNING id INTO new_round_id;
                CONTINUE round_pick WHEN new_round_id IS NULL;
            ELSIF p_round_closed AND rnd.status <> 'closed' THEN
                UPDATE game_sessions_round SET credit_count = credit_count + 1, total_credited = total_credited + p_amount,
                                               status = 'closed', closed_at = p_now
                    WHERE id = rnd.id;
            ELSE
                UPDATE game_sessions_round SET credit_count = credit_count + 1, total_credited = total_credited + p_amount
                    WHERE id = rnd.id;
            END IF;
            EXIT round_pick;
        END LOOP;

        -- 6. The money: balance, journal transaction and its two entries. The provider's
        -- clearing account is created with its first accepted call.
        IF clearing_id IS NULL THEN
            INSERT INTO ledger_account (key, kind, currency, name, created_at)
                VALUES (clearing_key, 'provider_clearing', p_currency, clearing_key, p_now)
                ON CONFLICT (key) DO NOTHING
                RETURNING id INTO clearing_id;
            IF clearing_id IS NULL THEN
                SELECT id INTO clearing_id FROM ledger_account WHERE key = clearing_key;
            END IF;
        END IF;
        new_balance := wp.balance;
        IF p_amount <> 0 THEN
            UPDATE wallet_wallet SET balance = balance + p_amount, updated_at = p_now
                WHERE id = wp.wallet_id
                RETURNING balance INTO new_balance;
        END IF;
        WITH j AS (
            INSERT INTO ledger_journaltransaction (kind, provider_code, provider_transaction_id, round_id, reason,
                                                   reverses_id, trace_id, created_at, created_by, memo)
                VALUES ('credit', p_scope, p_transaction_id, p_round_id, p_reason, NULL, p_trace_id, p_now,
                        'provider:' || p_scope, '')
                RETURNING id
        ), entries AS (
            INSERT INTO ledger_entry (transaction_id, leg, account_id, amount, currency, created_at)
                SELECT j.id, e.leg, e.account_id, e.amount, p_currency, p_now
                    FROM j, (VALUES (1, wp.account_id, p_amount), (2, clearing_id, -p_amount))
                         AS e(leg, account_id, amount)
        )
        SELECT j.id INTO journal_id FROM j;
        body := jsonb_build_object('player_id', wp.player_id, 'currency', p_currency, 'balance', new_balance,
                                   'transaction_id', p_transaction_id, 'platform_transaction_id', journal_id::text);
        UPDATE ledger_idempotencyrecord SET response_status = 200, response_body = body WHERE id = claim_id;
        RETURN jsonb_build_object('status', 200, 'replayed', false, 'body', body,
                                  'clearing_account_id', clearing_id);
    END checks;

    -- A refusal: the key's final answer, stored with nothing else.
    body := jsonb_build_object('code', err_code, 'message', err_message, 'retryable', false, 'trace_id', p_trace_id);
    UPDATE ledger_idempotencyrecord SET response_status = err_status, response_body = body WHERE id = claim_id;
    RETURN jsonb_build_object('status', err_status, 'replayed', false, 'stored', true, 'body', body);
END $$;
