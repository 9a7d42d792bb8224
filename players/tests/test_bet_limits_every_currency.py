"""Loss and wager limits bind play in every currency. A limit counts only its own currency's
bets (the platform holds no exchange rates), so a player who limits a period in one currency
launches a game in another only once it has a limit of that period too, and a change of the
limits that leaves a currency without one closes its open sessions. Over the operator API
and the wallet API, as a casino and a provider call them."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from ledger.models import Currency, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import LossLimit, Player, PlayerAuditLog
from players.services import rg_limits_apply_due
from sessions.models import GameSession
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient
from wallet.tests.test_cashier import TOKEN, call

pytestmark = pytest.mark.django_db

PLAYER = "p_currencies"


@pytest.fixture
def player(client, db):
    """A player of the casino's own with EUR and USD wallets, 10,000 in each, no limits yet."""
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    r = call(client, "PUT", PLAYER, {"display_name": "Two currencies", "kyc_status": "verified"})
    assert r.status_code == 201, r.content
    for currency in ("EUR", "USD"):
        r = call(
            client,
            "POST",
            f"{PLAYER}/deposits",
            {"currency": currency, "amount": 10_000, "reference": f"in-{currency}"},
        )
        assert r.status_code == 200, r.content
    return Player.objects.get(player_id=PLAYER)


def set_limit(client, kind, currency, period, amount):
    r = call(client, "PUT", f"{PLAYER}/{kind}/{currency}/{period}", {"amount": amount, "reason": "player asked"})
    assert r.status_code == 200, r.content
    return r.json()


def launch(client, currency):
    return client.post(
        "/api/v1/sessions",
        {"player_id": PLAYER, "game_id": "sandbox:dice", "currency": currency},
        content_type="application/json",
        headers=TOKEN,
    )


def token_of(response) -> str:
    assert response.status_code == 201, response.content
    return response.json()["session_token"]


def bet(api, token, tx, currency, amount=100):
    body = {
        "transaction_id": tx,
        "session_token": token,
        "round_id": f"r-{tx}",
        "game_id": "sandbox:dice",
        "amount": amount,
        "currency": currency,
        "reason": "bet",
    }
    return api.post("debit", body)


def balance(currency) -> int:
    return Wallet.objects.get(player__player_id=PLAYER, currency_id=currency).balance


class TestLaunch:
    def test_a_launch_in_a_currency_without_a_limit_of_the_period_is_refused(self, client, player):
        set_limit(client, "loss-limits", "EUR", "day", 1_000)
        refused = launch(client, "USD")
        assert (refused.status_code, refused.json()["code"]) == (403, "RG_LIMIT"), refused.content
        assert refused.json()["message"] == (
            f"Player {PLAYER} has a loss limit per day in EUR and none in USD: set one in USD first "
            f"(PUT /api/v1/players/{PLAYER}/loss-limits/USD/day); a limit counts only its own currency's bets."
        )
        assert refused.json()["details"] == {
            "loss_limit_missing": {"currency": "USD", "period": "day", "limited_in": ["EUR"]}
        }
        assert not GameSession.objects.filter(player=player).exists()
        token_of(launch(client, "EUR"))  # the limited currency plays on

        # A limit of another period does not stand in for the day's; the day's does.
        set_limit(client, "loss-limits", "USD", "month", 5_000)
        assert launch(client, "USD").json()["details"]["loss_limit_missing"]["period"] == "day"
        set_limit(client, "loss-limits", "USD", "day", 1_000)
        # EUR now lacks the month USD has.
        assert launch(client, "EUR").json()["details"]["loss_limit_missing"] == {
            "currency": "EUR",
            "period": "month",
            "limited_in": ["USD"],
        }
        set_limit(client, "loss-limits", "EUR", "month", 5_000)
        token_of(launch(client, "USD"))
        token_of(launch(client, "EUR"))

    def test_wager_limits_bind_every_currency_too(self, client, player):
        set_limit(client, "wager-limits", "USD", "week", 50_000)
        refused = launch(client, "EUR")
        assert refused.status_code == 403
        assert refused.json()["details"] == {
            "wager_limit_missing": {"currency": "EUR", "period": "week", "limited_in": ["USD"]}
        }
        assert "/wager-limits/EUR/week" in refused.json()["message"]
        set_limit(client, "wager-limits", "EUR", "week", 50_000)
        token_of(launch(client, "EUR"))

    def test_a_deposit_limit_alone_does_not_refuse_a_launch(self, client, player):
        # Deposit limits bind deposits (the cashier refuses those); play is held to bet limits.
        set_limit(client, "deposit-limits", "EUR", "day", 1_000)
        token_of(launch(client, "USD"))


class TestOpenSessions:
    def test_a_new_limit_closes_the_open_sessions_of_a_currency_without_one(self, client, player):
        api = ProviderClient(client)
        eur, usd = token_of(launch(client, "EUR")), token_of(launch(client, "USD"))
        assert bet(api, usd, "usd-1", "USD").status == 200

        set_limit(client, "loss-limits", "EUR", "day", 1_000)

        refused = bet(api, usd, "usd-2", "USD")
        assert (refused.status, refused.body["code"]) == (401, "SESSION_EXPIRED"), refused.body
        assert balance("USD") == 9_900
        assert not JournalTransaction.objects.filter(provider_transaction_id="usd-2").exists()
        assert bet(api, eur, "eur-1", "EUR").status == 200  # the limited currency's session plays on
        # A win owed on the closed session's round is still paid.
        win = {
            "transaction_id": "usd-win",
            "player_id": PLAYER,
            "round_id": "r-usd-1",
            "game_id": "sandbox:dice",
            "amount": 250,
            "currency": "USD",
            "reason": "win",
        }
        assert api.post("credit", win).status == 200
        assert balance("USD") == 10_150
        closed = PlayerAuditLog.objects.get(player=player, field="game_sessions")
        assert (closed.old_value, closed.new_value, closed.changed_by) == ("1 open", "closed", "operator:sandbox")
        assert (
            closed.reason == "USD has no loss limit per day, which EUR has: a limit binds only its own currency's bets"
        )
        assert ledger_reconcile().ok

    def test_an_immediate_removal_closes_the_sessions_it_leaves_unlimited(self, client, player, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0
        set_limit(client, "wager-limits", "EUR", "day", 1_000)
        set_limit(client, "wager-limits", "USD", "day", 1_000)
        eur, usd = token_of(launch(client, "EUR")), token_of(launch(client, "USD"))
        assert call(client, "DELETE", f"{PLAYER}/wager-limits/USD/day?reason=asked").status_code == 200
        api = ProviderClient(client)
        assert bet(api, usd, "usd-1", "USD").body["code"] == "SESSION_EXPIRED"
        assert bet(api, eur, "eur-1", "EUR").status == 200
        assert launch(client, "USD").json()["details"]["wager_limit_missing"]["limited_in"] == ["EUR"]

    def test_a_removal_put_in_force_by_the_sweep_closes_them_once_it_commits(
        self, client, player, django_capture_on_commit_callbacks
    ):
        set_limit(client, "loss-limits", "EUR", "week", 1_000)
        set_limit(client, "loss-limits", "USD", "week", 1_000)
        eur, usd = token_of(launch(client, "EUR")), token_of(launch(client, "USD"))
        assert call(client, "DELETE", f"{PLAYER}/loss-limits/EUR/week?reason=asked").status_code == 200
        api = ProviderClient(client)
        assert bet(api, eur, "eur-1", "EUR").status == 200  # the removal waits its cooling-off
        pending = LossLimit.objects.get(player=player, currency_id="EUR")
        with django_capture_on_commit_callbacks(execute=True):
            assert rg_limits_apply_due(now=pending.pending_from + timedelta(seconds=1)) == 1
        assert bet(api, eur, "eur-2", "EUR").body["code"] == "SESSION_EXPIRED"
        assert bet(api, usd, "usd-1", "USD").status == 200  # USD keeps its limit
        audit = PlayerAuditLog.objects.get(player=player, field="game_sessions")
        assert (audit.changed_by, audit.old_value) == ("system", "1 open")
        assert (
            audit.reason == "EUR has no loss limit per week, which USD has: a limit binds only its own currency's bets"
        )
        assert launch(client, "EUR").json()["details"]["loss_limit_missing"] == {
            "currency": "EUR",
            "period": "week",
            "limited_in": ["USD"],
        }


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
@pytest.mark.parametrize("first", ["bet", "limit"])
def test_a_bet_racing_the_limit_that_closes_its_session_is_taken_once_and_the_next_refused(
    live_server, settings, in_database, first
):
    """A USD bet and the player's first EUR loss limit, both waiting behind the player's lock,
    in either order: no deadlock, the session is closed, and the next bet on it refused. The
    bet in flight is taken either way: its session was open when it was read (a session
    within a minute of its last slide is read, not locked), and an EUR limit never bound it,
    so it stands as if it had come a moment earlier; the ledger holds it exactly once."""
    import requests
    from django.db import connection

    from casino_platform.tests.locks import (
        another_waits_for_a_lock,
        player_locked,
        sessions_waiting_for_a_lock,
        together_behind_a_lock,
    )
    from wallet.tests.api_client import debit_payload

    settings.WALLET_DEBIT_IN_DATABASE = in_database
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    base = f"{live_server.url}/api/v1"
    with requests.Session() as casino:
        casino.headers.update(TOKEN)
        assert casino.put(f"{base}/players/{PLAYER}", json={}, timeout=10).status_code == 201
        deposit = {"currency": "USD", "amount": 10_000, "reference": "race-in"}
        assert casino.post(f"{base}/players/{PLAYER}/deposits", json=deposit, timeout=10).status_code == 200
        launch = {"player_id": PLAYER, "game_id": "sandbox:dice", "currency": "USD"}
        token = casino.post(f"{base}/sessions", json=launch, timeout=10).json()["session_token"]

    def call(n):
        is_bet = (n == 0) == (first == "bet")
        if n == 1:
            # The second call starts once the first waits for a lock, so each order is staged.
            try:
                another_waits_for_a_lock(seconds=20)
            finally:
                connection.close()  # this thread's own
        with requests.Session() as http:
            if is_bet:
                body = {**debit_payload(token, "race-bet", 300), "currency": "USD"}
                return ProviderClient(base_url=live_server.url, session=http).post("debit", body).body.get("code", "OK")
            http.headers.update(TOKEN)
            limit = http.put(
                f"{base}/players/{PLAYER}/loss-limits/EUR/day", json={"amount": 1_000, "reason": "race"}, timeout=30
            )
            return f"limit {limit.status_code}"

    answers = together_behind_a_lock(lambda: player_locked(PLAYER), call, 2)
    bet_answer = answers[0] if first == "bet" else answers[1]
    assert "limit 200" in answers
    assert bet_answer == "OK", answers
    assert sessions_waiting_for_a_lock() == 0
    assert GameSession.objects.get(player__player_id=PLAYER).closed_at is not None
    assert JournalTransaction.objects.filter(kind="debit", provider_transaction_id="race-bet").count() == 1
    assert balance("USD") == 10_000 - 300
    with requests.Session() as http:
        body = {**debit_payload(token, "after", 300), "currency": "USD"}
        assert ProviderClient(base_url=live_server.url, session=http).post("debit", body).body["code"] == (
            "SESSION_EXPIRED"
        )
    assert ledger_reconcile().ok


class TestTheStateSaysWhatIsMissing:
    """The responsible-gambling state (and each limit change's answer, which is that state)
    lists the limits the player lacks in a currency of their wallets, and what is refused there."""

    def test_a_limit_in_one_currency_shows_the_other_missing_until_it_is_set(self, client, player):
        state = set_limit(client, "loss-limits", "EUR", "day", 5_000)
        assert state["limits_missing"] == [
            {"limit": "loss_limit", "currency": "USD", "period": "day", "limited_in": ["EUR"], "refuses": "play"}
        ]
        assert launch(client, "USD").json()["details"]["loss_limit_missing"]["currency"] == "USD"

        state = set_limit(client, "loss-limits", "USD", "day", 7_000)

        assert state["limits_missing"] == []
        assert launch(client, "USD").status_code == 201

    def test_a_currency_without_a_wallet_is_listed_when_asked_for(self, client, player):
        set_limit(client, "loss-limits", "EUR", "day", 5_000)
        set_limit(client, "loss-limits", "USD", "day", 5_000)
        set_limit(client, "deposit-limits", "EUR", "week", 9_000)
        gbp = {"limit": "loss_limit", "currency": "GBP", "period": "day", "limited_in": ["EUR", "USD"]}
        usd_deposits = {"limit": "deposit_limit", "currency": "USD", "period": "week", "limited_in": ["EUR"]}

        assert call(client, "GET", f"{PLAYER}/responsible-gambling").json()["limits_missing"] == [
            {**usd_deposits, "refuses": "deposits"}
        ]
        r = call(client, "GET", f"{PLAYER}/responsible-gambling?currency=GBP")

        assert r.status_code == 200, r.content
        assert r.json()["limits_missing"] == [
            {**gbp, "refuses": "play"},
            {**usd_deposits, "currency": "GBP", "refuses": "deposits"},
            {**usd_deposits, "refuses": "deposits"},
        ]
        # What the answer said is what a first deposit there is refused for, and, once it is in,
        # the first launch.
        deposit = call(client, "POST", f"{PLAYER}/deposits", {"currency": "GBP", "amount": 100, "reference": "in-g"})
        assert deposit.json()["details"]["deposit_limit_missing"]["period"] == "week"
        assert not Wallet.objects.filter(player=player, currency_id="GBP", balance__gt=0).exists()
        set_limit(client, "deposit-limits", "GBP", "week", 9_000)
        deposit = call(client, "POST", f"{PLAYER}/deposits", {"currency": "GBP", "amount": 100, "reference": "in-g2"})
        assert deposit.status_code == 200, deposit.content
        assert launch(client, "GBP").json()["details"]["loss_limit_missing"]["currency"] == "GBP"
        state = call(client, "GET", f"{PLAYER}/responsible-gambling").json()
        assert state["limits_missing"] == [
            {**gbp, "refuses": "play"},
            {**usd_deposits, "limited_in": ["EUR", "GBP"], "refuses": "deposits"},
        ]
        # A wallet's currency asked for again is listed once.
        asked_usd = call(client, "GET", f"{PLAYER}/responsible-gambling?currency=USD").json()["limits_missing"]
        assert asked_usd == state["limits_missing"]

    @pytest.mark.parametrize(
        "asked, why",
        [
            ("XYZ", "not enabled"),
            ("gbp", "not enabled"),
            ("", "may not be empty: leave it out instead"),
            ("GBPX", "Ensure this field has no more than 3 characters."),
        ],
    )
    def test_a_currency_asked_for_is_one_the_platform_takes(self, client, player, asked, why):
        Currency.objects.filter(code__in=["CAD", "USD"]).update(is_enabled=False)
        for query in (asked, "CAD"):
            r = call(client, "GET", f"{PLAYER}/responsible-gambling?currency={query}")
            assert r.status_code == 400, r.content
            assert r.json()["code"] == "VALIDATION_ERROR"
            assert r.json()["details"]["currency"] == [why if query == asked else "not enabled"]
        # One of the player's wallets', disabled since: listed as without asking.
        assert call(client, "GET", f"{PLAYER}/responsible-gambling?currency=USD").status_code == 200

    def test_every_kind_and_period_is_listed_in_order(self, client, player):
        set_limit(client, "deposit-limits", "USD", "month", 50_000)
        set_limit(client, "wager-limits", "USD", "week", 20_000)
        set_limit(client, "wager-limits", "EUR", "day", 3_000)

        r = call(client, "GET", f"{PLAYER}/responsible-gambling")

        assert r.status_code == 200, r.content
        assert [(m["limit"], m["currency"], m["period"], m["refuses"]) for m in r.json()["limits_missing"]] == [
            ("wager_limit", "EUR", "week", "play"),
            ("wager_limit", "USD", "day", "play"),
            ("deposit_limit", "EUR", "month", "deposits"),
        ]
        deposit = call(client, "POST", f"{PLAYER}/deposits", {"currency": "EUR", "amount": 100, "reference": "in-3"})
        assert deposit.json()["details"]["deposit_limit_missing"]["period"] == "month"
