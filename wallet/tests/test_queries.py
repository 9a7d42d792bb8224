"""The debit is the hot path: it costs a fixed number of queries, whatever the history."""

import pytest
from django.core.management import call_command

from players.models import Player
from provider.models import Game
from sessions.services import session_create
from wallet.tests.api_client import ProviderClient

pytestmark = pytest.mark.django_db

# switch, claim, session, player lock, tombstone, wallet, loss limits, round, round insert,
# clearing account, wallet update, journal, entries, idempotency answer = 14, plus the
# SAVEPOINT/RELEASE that the test's outer transaction turns BEGIN/COMMIT into.
DEBIT_QUERIES = 16


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
    api.post("debit", debit(token, 0))  # warm the provider cache
    for n in range(1, 4):
        with django_assert_num_queries(DEBIT_QUERIES):
            assert api.post("debit", debit(token, n)).status == 200


def test_a_replayed_debit_is_cheaper(api_and_token, django_assert_max_num_queries):
    api, token = api_and_token
    api.post("debit", debit(token, 1))
    with django_assert_max_num_queries(5):
        r = api.post("debit", debit(token, 1))
    assert r.headers["Idempotent-Replayed"] == "true"
