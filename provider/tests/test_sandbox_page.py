"""The sandbox page's API over a real socket: bets go out through the outbound client to this
platform's own wallet API, and a real Celery worker delivers the wins."""

import pytest
import requests
from django.core.management import call_command

from ledger.reconciliation import ledger_reconcile
from provider.games import engine
from provider.models import GameRound, OutboundTransaction, PartnerCasino
from provider.tests.conftest import wait_for
from sessions.models import GameSession
from sessions.services import session_close
from wallet.models import Wallet

pytestmark = [pytest.mark.concurrency, pytest.mark.slow]


def launch(live_server, game_id):
    r = requests.post(
        f"{live_server.url}/api/v1/sessions",
        json={"player_id": "p_demo_1", "game_id": game_id, "currency": "EUR"},
        headers={"Authorization": "Token sandbox-operator-token"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def launched(live_server, settings, worker):
    settings.PUBLIC_BASE_URL = live_server.url
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    assert PartnerCasino.objects.get(name="self").base_url == live_server.url
    return launch(live_server, "sandbox:dice")


def test_launch_url_opens_the_game_page(launched):
    page = requests.get(launched["launch_url"], timeout=10)
    assert page.status_code == 200
    assert "Sandbox games" in page.text and launched["session_token"] in page.text


def test_bets_move_money_through_the_wallet_api_and_wins_arrive(live_server, launched):
    tokens = {"dice": launched["session_token"], "slot": launch(live_server, "sandbox:slot")["session_token"]}
    session = requests.post(f"{live_server.url}/sandbox/api/session", json={"token": tokens["dice"]}, timeout=10)
    assert session.json()["player_id"] == "p_demo_1" and session.json()["balance"] == 100_000
    assert session.json()["exponent"] == 2  # EUR's, from this platform's currencies: the page shows 1,000.00
    staked, paid = 0, 0
    for game, extra in [("dice", {"target": 50}), ("slot", {}), ("dice", {"target": 90}), ("slot", {})]:
        r = requests.post(
            f"{live_server.url}/sandbox/api/bet",
            json={"token": tokens[game], "game": game, "stake": 500, **extra},
            timeout=20,
        )
        assert r.status_code == 200, r.text
        result = r.json()
        staked += 500
        # Earlier wins arrive asynchronously (the worker delivers them): some may not be in yet.
        assert 100_000 - staked <= result["balance_after_bet"] <= 100_000 - staked + paid
        paid += result["payout"]
    expected = 100_000 - staked + paid
    wait_for(
        lambda: not OutboundTransaction.objects.filter(kind="credit").exclude(status="succeeded").exists(),
        timeout=60,
        message="the wins delivered",
    )
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == expected
    assert GameRound.objects.filter(status="settled").count() == 4
    assert ledger_reconcile().ok


def test_a_refused_bet_is_shown_and_moves_nothing(live_server, launched):
    r = requests.post(
        f"{live_server.url}/sandbox/api/bet",
        json={"token": launched["session_token"], "game": "dice", "stake": 100_001},
        timeout=20,
    )
    assert r.status_code == 402 and r.json()["code"] == "INSUFFICIENT_FUNDS"
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 100_000
    assert GameRound.objects.get().status == "refused"


def test_a_stake_beyond_the_contracts_amounts_is_refused_before_any_round(live_server, launched):
    for stake in (10**15 + 1, 2**63, 2**64 - 1):
        r = requests.post(
            f"{live_server.url}/sandbox/api/bet",
            json={"token": launched["session_token"], "game": "dice", "stake": stake},
            timeout=20,
        )
        assert r.status_code == 400 and r.json()["code"] == "VALIDATION_ERROR", (stake, r.text)
    assert not GameRound.objects.exists()
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 100_000


@pytest.mark.parametrize(
    "body",
    [
        {"game": "dice", "stake": 100, "client_seed": "a\u0000"},  # PostgreSQL's text refuses NUL
        {"game": "dice", "stake": 100, "client_seed": 5},
        {"game": "dice", "stake": 100, "client_seed": "x" * 65},
        # Stakes whose best win the contract could not credit, though they are amounts.
        {"game": "slot", "stake": engine.stake_max(game="slot") + 1},
        {"game": "dice", "stake": engine.stake_max(game="dice", target=2) + 1, "target": 2},
    ],
    ids=["nul-seed", "number-seed", "long-seed", "slot-stake", "dice-stake"],
)
def test_a_bet_refused_for_its_input_is_a_400_and_opens_no_round(live_server, launched, body):
    r = requests.post(
        f"{live_server.url}/sandbox/api/bet", json={"token": launched["session_token"], **body}, timeout=20
    )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "VALIDATION_ERROR" and r.json()["retryable"] is False and r.json()["trace_id"]
    assert not GameRound.objects.exists()
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 100_000


def test_a_session_ended_meanwhile_is_said_by_the_page_and_its_bet_refused_with_the_wallets_status(
    live_server, launched
):
    token = launched["session_token"]
    first = requests.post(f"{live_server.url}/sandbox/api/session", json={"token": token}, timeout=10)
    assert first.status_code == 200  # the partner's `authenticate` is now cached for a while
    session_close(session=GameSession.objects.get(pk=launched["session_id"]))

    again = requests.post(f"{live_server.url}/sandbox/api/session", json={"token": token}, timeout=10)
    assert again.status_code == 401 and again.json()["code"].startswith("SESSION_"), again.text
    bet = requests.post(
        f"{live_server.url}/sandbox/api/bet", json={"token": token, "game": "dice", "stake": 100}, timeout=20
    )
    assert bet.status_code == 401 and bet.json()["code"].startswith("SESSION_"), bet.text
    assert {"retryable", "trace_id"} <= bet.json().keys()
    assert GameRound.objects.get().status == "refused"
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 100_000
