"""Loss limits held against parallel bets: the debit judges the period's net loss under the
player's lock, so bets waiting on it together are judged one after another, on both debits
(PostgreSQL's function and the Python path), over a socket with real threads."""

import pytest
import requests
from django.core.management import call_command

from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from wallet.tests.api_client import ProviderClient, debit_payload
from wallet.tests.test_cashier import TOKEN, balance


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_parallel_debits_over_http_never_cross_the_loss_limit(live_server, settings, in_database):
    """Eight bets of 3,000 against a daily loss limit of 10,000, each from its own thread and
    connection, all waiting on the player's lock at once: three are taken, five refused
    (RG_LIMIT), and the ledger holds exactly the three."""
    settings.WALLET_DEBIT_IN_DATABASE = in_database
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    base = f"{live_server.url}/api/v1"
    with requests.Session() as casino:
        casino.headers.update(TOKEN)
        assert casino.put(f"{base}/players/p_race", json={}, timeout=10).status_code == 201
        deposit = {"currency": "EUR", "amount": 100_000, "reference": "race-in"}
        assert casino.post(f"{base}/players/p_race/deposits", json=deposit, timeout=10).status_code == 200
        limit = casino.put(f"{base}/players/p_race/loss-limits/EUR/day", json={"amount": 10_000}, timeout=10)
        assert limit.status_code == 200, limit.text
        launch = {"player_id": "p_race", "game_id": "sandbox:dice", "currency": "EUR"}
        token = casino.post(f"{base}/sessions", json=launch, timeout=10).json()["session_token"]

    def post(n):
        with requests.Session() as http:
            answer = ProviderClient(base_url=live_server.url, session=http).post(
                "debit", debit_payload(token, f"race-{n}", 3_000)
            )
            return answer.body.get("code", "OK")

    outcomes = sorted(together_behind_a_lock(lambda: player_locked("p_race"), post, 8))
    assert outcomes == ["OK"] * 3 + ["RG_LIMIT"] * 5
    assert balance("p_race") == 100_000 - 9_000
    assert JournalTransaction.objects.filter(kind="debit", provider_transaction_id__startswith="race-").count() == 3
    assert ledger_reconcile().ok
