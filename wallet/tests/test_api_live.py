"""Races over real HTTP: a live server on a socket and parallel provider clients."""

import pytest
import requests
from django.core.management import call_command

from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import Player
from provider.models import Game
from sessions.services import session_create
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture
def token(live_server):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    game = Game.objects.get(game_id="sandbox:dice")
    _, token = session_create(
        provider=game.provider, player=Player.objects.get(player_id="p_demo_1"), game=game, currency="EUR"
    )
    return token


def clients(live_server, n):
    return [ProviderClient(base_url=live_server.url, session=requests.Session()) for _ in range(n)]


def behind_the_players_lock(calls):
    """The calls over HTTP, each in a thread, released together once every one waits for a
    lock the test holds (the player's): they provably overlap, where a barrier only starts
    them together and would pass if the server ran them in turn."""
    return together_behind_a_lock(lambda: player_locked("p_demo_1"), lambda i: calls[i](), len(calls))


def test_identical_debits_racing_over_http_move_money_once(live_server, token):
    payload = {
        "transaction_id": "race-1",
        "session_token": token,
        "round_id": "r",
        "game_id": "sandbox:dice",
        "amount": 500,
        "currency": "EUR",
        "reason": "bet",
    }
    results = behind_the_players_lock([lambda c=c: c.post("debit", payload) for c in clients(live_server, 8)])
    assert {r.status for r in results} == {200}
    assert len({tuple(sorted(r.body.items())) for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 7
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 99_500
    assert JournalTransaction.objects.filter(provider_transaction_id="race-1").count() == 1
    assert ledger_reconcile().ok


def test_parallel_distinct_debits_over_http_never_overdraw_nor_500(live_server, token):
    # p_demo_1 has 100000; 24 debits of 5000 can only 20 succeed.
    calls = []
    for i, c in enumerate(clients(live_server, 24)):
        payload = {
            "transaction_id": f"par-{i}",
            "session_token": token,
            "round_id": f"r{i}",
            "game_id": "sandbox:dice",
            "amount": 5_000,
            "currency": "EUR",
            "reason": "bet",
        }
        calls.append(lambda c=c, p=payload: c.post("debit", p))
    results = behind_the_players_lock(calls)
    statuses = sorted(r.status for r in results)
    assert statuses == [200] * 20 + [402] * 4
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 0
    assert ledger_reconcile().ok


def test_rollback_racing_a_credit_over_http(live_server, token):
    c1, c2, c3 = clients(live_server, 3)
    bet = c1.post(
        "debit",
        {
            "transaction_id": "d",
            "session_token": token,
            "round_id": "rr",
            "game_id": "sandbox:dice",
            "amount": 1_000,
            "currency": "EUR",
            "reason": "bet",
        },
    )
    # Without the bet in, the rollback would be a tombstone and look like the rollback winning.
    assert bet.status == 200 and Wallet.objects.get(player__player_id="p_demo_1").balance == 99_000
    # Both wait on the player's lock, held by the test, and go together: they overlap.
    calls = [
        lambda: c2.post(
            "rollback",
            {"transaction_id": "rb", "reference_transaction_id": "d", "player_id": "p_demo_1", "round_id": "rr"},
        ),
        lambda: c3.post(
            "credit",
            {
                "transaction_id": "c",
                "player_id": "p_demo_1",
                "round_id": "rr",
                "game_id": "sandbox:dice",
                "amount": 300,
                "currency": "EUR",
                "reason": "win",
            },
        ),
    ]
    rollback, credit = behind_the_players_lock(calls)
    balance = Wallet.objects.get(player__player_id="p_demo_1").balance
    # Exactly one of the two takes effect (docs/decisions.md, "A win after a rollback").
    if rollback.status == 200:
        assert rollback.body["status"] == "rolled_back"
        assert credit.status == 404 and credit.body["code"] == "ROUND_NOT_FOUND"
        assert balance == 100_000
    else:
        assert rollback.body["code"] == "ROLLBACK_NOT_ALLOWED" and credit.status == 200
        assert balance == 100_000 - 1_000 + 300
    assert ledger_reconcile().ok
