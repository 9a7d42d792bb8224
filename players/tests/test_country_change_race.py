"""A change of the player's country while they bet, raced on real PostgreSQL over a socket,
each request in its own thread and connection, the lock queue staged by the test: the change
locks the player's sessions before the player, the order a bet takes them in, so the two
never wait for each other in a cycle, and the change closes what the new country is not
offered."""

from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from casino_platform.tests.lock_stages import Started, until_sessions_wait
from casino_platform.tests.locks import player_locked
from ledger.reconciliation import ledger_reconcile
from players.models import Player
from players.services import player_update_by_staff
from provider.models import Game
from sessions.models import GameSession
from wallet.tests.api_client import ProviderClient, debit_payload, launch
from wallet.tests.test_cashier import TOKEN, balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def move_to_britain(live_server, door: str) -> int:
    """The player's country changed to GB by the operator's API or by staff; the status the
    operator would see (staff's edit succeeding is a 200 too)."""
    if door == "operator_api":
        body = {"country": "GB", "reason": "moved"}
        url = f"{live_server.url}/api/v1/players/p_demo_1"
        return requests.put(url, json=body, headers=TOKEN, timeout=30).status_code
    player = Player.objects.get(player_id="p_demo_1")
    player_update_by_staff(player=player, changed_by="staff:ana", reason="moved", changes={"country": "GB"})
    return 200


def bet(live_server, token: str, tx: str, game_id: str = "sandbox:dice") -> tuple[int, str]:
    with requests.Session() as http:
        wallet = ProviderClient(base_url=live_server.url, session=http)
        answer = wallet.post("debit", {**debit_payload(token, tx, 1_000), "game_id": game_id})
    return answer.status, answer.body.get("code", "OK")


@pytest.mark.parametrize("door", ["operator_api", "staff"])
@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_a_bet_racing_a_change_of_country_is_refused_on_a_game_not_offered_there_and_neither_deadlocks(
    live_server, settings, in_database, door
):
    """Dice is not offered in GB. The change of the player's country to GB locks their
    sessions and queues for the player; a bet on their dice session, sliding that session's
    expiry, then waits for the session. Neither waits for the other in a cycle: the change is
    made and closes the dice session, and the bet is refused (SESSION_EXPIRED) on the session
    as the change left it, as is the next one; a new dice session is refused, and the slot,
    offered in GB, still takes bets."""
    settings.WALLET_DEBIT_IN_DATABASE = in_database
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    Game.objects.filter(game_id="sandbox:dice").update(restricted_countries=["GB"])
    dice, slot = launch("p_demo_1", "sandbox:dice"), launch("p_demo_1", "sandbox:slot")
    # Last seen over a minute ago: a bet slides its session, so it writes the session's row.
    GameSession.objects.update(last_seen_at=timezone.now() - timedelta(minutes=2))

    with transaction.atomic():
        player_locked("p_demo_1")
        change = Started(lambda: move_to_britain(live_server, door), "the change of country")
        until_sessions_wait(1, "the change to lock the sessions and queue for the player", calls=[change])
        racing = Started(lambda: bet(live_server, dice, "race-1"), "the bet")
        until_sessions_wait(2, "the bet to wait for its session", calls=[change, racing])

    assert change.answer() == 200
    assert racing.answer() == (401, "SESSION_EXPIRED")
    assert Player.objects.get(player_id="p_demo_1").country == "GB"
    assert GameSession.objects.get(game__game_id="sandbox:dice").closed_at is not None
    assert bet(live_server, dice, "after-1") == (401, "SESSION_EXPIRED")
    launch_body = {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"}
    relaunch = requests.post(f"{live_server.url}/api/v1/sessions", json=launch_body, headers=TOKEN, timeout=30)
    assert (relaunch.status_code, relaunch.json()["code"]) == (404, "GAME_NOT_FOUND")
    assert bet(live_server, slot, "after-2", "sandbox:slot") == (200, "OK")
    assert balance() == 100_000 - 1_000
    assert ledger_reconcile().ok
