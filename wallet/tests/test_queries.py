"""The debit and credit are the hot path: each costs a fixed number of queries, whatever the
history."""

import pytest
from django.core.management import call_command

from players.models import Player
from provider.models import Game
from sessions.services import session_create
from wallet.tests.api_client import ProviderClient

# Committed for real (not inside a test transaction), as in production, so the per-process
# caches (switches, clearing accounts) behave as they do there.
pytestmark = pytest.mark.django_db(transaction=True)

# On PostgreSQL the whole debit is one call of wallet_debit_v1 in autocommit: one round trip.
DEBIT_QUERIES = 1
# The Python path (SQLite's, and PostgreSQL's with WALLET_DEBIT_IN_DATABASE off): BEGIN,
# idempotency claim, session, wallet+player lock, tombstone, round upsert, wallet update,
# journal transaction with its entries, idempotency answer, COMMIT.
DEBIT_QUERIES_PYTHON = 10
# The credit too, as wallet_credit_v2, once the player has a wallet in the currency.
CREDIT_QUERIES = 1


@pytest.fixture
def api_and_token(client):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    game = Game.objects.get(game_id="sandbox:dice")
    _, token = session_create(
        provider=game.provider, player=Player.objects.get(player_id="p_demo_1"), game=game, currency="EUR"
    )
    return ProviderClient(client), token


def debit(token, n):
    return {
        "transaction_id": f"q-{n}",
        "session_token": token,
        "round_id": f"r-{n}",
        "game_id": "sandbox:dice",
        "amount": 10,
        "currency": "EUR",
        "reason": "bet",
    }


def test_a_debit_costs_a_fixed_number_of_queries(api_and_token, django_assert_num_queries):
    api, token = api_and_token
    api.post("debit", debit(token, 0))  # warm the per-process caches
    for n in range(1, 4):
        with django_assert_num_queries(DEBIT_QUERIES):
            assert api.post("debit", debit(token, n)).status == 200


def test_the_python_path_costs_a_fixed_number_of_queries(api_and_token, django_assert_num_queries, settings):
    settings.WALLET_DEBIT_IN_DATABASE = False
    api, token = api_and_token
    api.post("debit", debit(token, 0))
    for n in range(1, 4):
        with django_assert_num_queries(DEBIT_QUERIES_PYTHON):
            assert api.post("debit", debit(token, n)).status == 200


def test_a_replay_costs_one_round_trip(api_and_token, django_assert_num_queries):
    api, token = api_and_token
    api.post("debit", debit(token, 1))
    with django_assert_num_queries(1):
        r = api.post("debit", debit(token, 1))
    assert r.headers["Idempotent-Replayed"] == "true"


def test_a_replay_on_the_python_path_is_cheaper(api_and_token, django_assert_max_num_queries, settings):
    settings.WALLET_DEBIT_IN_DATABASE = False
    api, token = api_and_token
    api.post("debit", debit(token, 1))
    with django_assert_max_num_queries(4):  # BEGIN, the claim, the stored answer, COMMIT
        r = api.post("debit", debit(token, 1))
    assert r.headers["Idempotent-Replayed"] == "true"


def win(n):
    return {
        "transaction_id": f"q-win-{n}",
        "player_id": "p_demo_1",
        "round_id": f"r-{n}",
        "game_id": "sandbox:dice",
        "amount": 25,
        "currency": "EUR",
        "reason": "win",
    }


def test_a_credit_costs_one_round_trip(api_and_token, django_assert_num_queries):
    api, token = api_and_token
    api.post("debit", debit(token, 0))
    api.post("credit", win(0))  # warm the per-process caches
    for n in range(1, 4):
        assert api.post("debit", debit(token, n)).status == 200
        with django_assert_num_queries(CREDIT_QUERIES):
            assert api.post("credit", win(n)).status == 200


def test_a_refusal_costs_one_round_trip(api_and_token, django_assert_num_queries):
    """wallet_debit_v3 answers a refusal the rows already show itself, stored, in its one call
    (only a refusal that raced a movement holding the lock takes a second call, to v1:
    test_concurrency.py)."""
    api, token = api_and_token
    api.post("debit", debit(token, 0))
    for _ in range(2):  # the refusal, then its replay
        with django_assert_num_queries(1):
            r = api.post("debit", {**debit(token, 1), "amount": 10**14})
        assert r.status == 402 and r.body["code"] == "INSUFFICIENT_FUNDS"


def test_a_rollback_of_a_booked_debit_costs_one_round_trip(api_and_token, django_assert_num_queries):
    api, token = api_and_token
    for n in range(1, 4):
        assert api.post("debit", debit(token, n)).status == 200
        cancel = {
            "transaction_id": f"q-rb-{n}",
            "reference_transaction_id": f"q-{n}",
            "player_id": "p_demo_1",
            "round_id": f"r-{n}",
        }
        with django_assert_num_queries(1):
            r = api.post("rollback", cancel)
        assert r.status == 200 and r.body["status"] == "rolled_back"
