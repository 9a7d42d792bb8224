"""The counting-only debit variants are derived from the platform's function and still install."""

import json
import threading
import time

import psycopg
import pytest
from django.db import connection

from bench.variants.journal_key_as_claim import V3, variant_sql
from casino_platform import clock
from ledger.models import JournalTransaction
from provider.tests.factories import GameFactory, ProviderFactory
from sessions.services import session_create, session_token_hash
from wallet.services.debits import DEBIT_PARAMETER_TYPES
from wallet.tests.factories import funded_wallet


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


@pytest.fixture
def journal_claim_variants(transactional_db):
    """Both variants installed and committed (the race needs three connections), and gone after."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(variant_sql())
        cursor.execute(variant_sql(locked=True))
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP FUNCTION wallet_debit_journal_claim({', '.join(DEBIT_PARAMETER_TYPES)}); "
            f"DROP FUNCTION wallet_debit_journal_claim_locked({', '.join(DEBIT_PARAMETER_TYPES)}); "
            "ALTER TABLE ledger_journaltransaction DROP COLUMN fingerprint, DROP COLUMN balance_after"
        )


@pytest.mark.parametrize(
    "function, safe",
    [("wallet_debit_journal_claim", False), ("wallet_debit_journal_claim_locked", True)],
)
def test_two_deliveries_of_one_debit_in_flight(journal_claim_variants, function, safe):
    """What docs/decisions.md says of the journal's key as the claim: without the key's lock,
    the second delivery of a debit that is booked but not yet committed fails on the journal's
    key when the first commits; with it, it waits and replays the first."""
    provider = ProviderFactory()
    game = GameFactory(provider=provider)
    wallet = funded_wallet(amount=1_000)
    _, token = session_create(provider=provider, player=wallet.player, game=game, currency="EUR")
    params = [
        *(provider.code, provider.pk, "dup-1", "debit", "fingerprint-1", session_token_hash(token), None),
        *("r1", game.game_id, 100, "EUR", "bet", False, "", clock.now(), False, None, 1800),
    ]
    call = f"SELECT {function}({', '.join(['%s'] * len(params))})::text"
    dsn = connection.get_connection_params()
    with psycopg.connect(**dsn) as first, psycopg.connect(**dsn) as second:
        answer = json.loads(first.execute(call, params).fetchone()[0])  # booked, its transaction still open
        assert answer["status"] == 200 and not answer["replayed"]
        outcome: list[object] = []

        def deliver_again() -> None:
            try:
                outcome.append(json.loads(second.execute(call, params).fetchone()[0]))
                second.commit()
            except psycopg.Error as error:
                outcome.append(error)

        thread = threading.Thread(target=deliver_again)
        thread.start()
        pid = second.info.backend_pid
        with connection.cursor() as cursor:  # the second waits on a lock before the first commits
            for _ in range(500):
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == "Lock":
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the second delivery never waited")
        first.commit()
        thread.join(timeout=10)
    if safe:
        assert outcome[0]["status"] == 200 and outcome[0]["replayed"] is True
    else:
        assert isinstance(outcome[0], psycopg.errors.UniqueViolation)
    wallet.refresh_from_db()
    assert wallet.balance == 900  # booked once either way; the unsafe one answered the provider with an error
    assert JournalTransaction.objects.filter(provider_transaction_id="dup-1").count() == 1
