"""Wager limits: set like the other money limits (stricter at once, looser after the
cooling-off), and held against a player's bets (those rolled back given back, wins not
deducted) by both debits, PostgreSQL's function and the Python path; over Django's test
client, and over a socket with parallel debits for the race."""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import Player, PlayerAuditLog, WagerLimit
from players.services import player_set_loss_limit, player_set_wager_limit, rg_limits_apply_due
from players.tests.test_deposit_limits import at
from provider.models import Game
from sessions.services import session_create
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient
from wallet.tests.test_cashier import TOKEN, call

DAY = timedelta(hours=24)
# A Wednesday at noon: its day, its ISO week (from Monday 2026-12-14) and its month differ.
WEDNESDAY = datetime(2026, 12, 16, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))


def register(client, player_id="p_wagers", funds=100_000) -> Player:
    """A player of the casino's own with `funds` deposited and nothing wagered yet."""
    r = call(client, "PUT", player_id, {"display_name": "Wagers", "kyc_status": "verified"})
    assert r.status_code == 201, r.content
    r = call(
        client, "POST", f"{player_id}/deposits", {"currency": "EUR", "amount": funds, "reference": f"in-{player_id}"}
    )
    assert r.status_code == 200, r.content
    return Player.objects.get(player_id=player_id)


@pytest.fixture
def player(client, sandbox):
    return register(client)


@pytest.fixture(params=["in_database", "python"])
def api(request, client, settings):
    """The provider's wallet calls, answered by PostgreSQL's debit function or the Python path."""
    settings.WALLET_DEBIT_IN_DATABASE = request.param == "in_database"
    return ProviderClient(client)


def set_limit(client, amount, period="day", player_id="p_wagers"):
    r = call(client, "PUT", f"{player_id}/wager-limits/EUR/{period}", {"amount": amount, "reason": "asked"})
    assert r.status_code == 200, r.content
    return r.json()


def launch(player: Player) -> str:
    game = Game.objects.get(game_id="sandbox:dice")
    return session_create(provider=game.provider, player=player, game=game, currency="EUR")[1]


def bet(api, token, tx, amount, round_id=None):
    body = {
        "transaction_id": tx,
        "session_token": token,
        "round_id": round_id or f"r-{tx}",
        "game_id": "sandbox:dice",
        "amount": amount,
        "currency": "EUR",
        "reason": "bet",
    }
    return api.post("debit", body)


def balance(player_id="p_wagers") -> int:
    return Wallet.objects.get(player__player_id=player_id, currency_id="EUR").balance


def refused(answer, message):
    assert (answer.status, answer.body["code"]) == (403, "RG_LIMIT"), answer.body
    assert answer.body["message"] == message
    return True


@pytest.mark.django_db
class TestSettingALimit:
    def test_stricter_at_once_looser_after_the_cooling_off_shown_and_audited(self, client, player):
        with at(WEDNESDAY):
            set_limit(client, 50_000, "week")
            set_limit(client, 20_000, "week")
            state = set_limit(client, 90_000, "week")
        assert state["wager_limits"] == [
            {
                "currency": "EUR",
                "period": "week",
                "amount": 20_000,
                "wagered": 0,
                "remaining": 20_000,
                "pending": {"amount": 90_000, "effective_from": (WEDNESDAY + DAY).isoformat().replace("+00:00", "Z")},
            }
        ]
        assert state["loss_limits"] == [] and state["deposit_limits"] == []
        fields = list(
            PlayerAuditLog.objects.filter(player=player, field__startswith="wager_limit")
            .order_by("id")
            .values_list("field", "old_value", "new_value", "changed_by")
        )
        assert fields == [
            ("wager_limit_week_EUR", "", "50000", "operator:sandbox"),
            ("wager_limit_week_EUR", "50000", "20000", "operator:sandbox"),
            ("wager_limit_week_EUR_pending", "", f"90000 from {(WEDNESDAY + DAY).isoformat()}", "operator:sandbox"),
        ]
        assert rg_limits_apply_due(now=WEDNESDAY + DAY - timedelta(seconds=1)) == 0
        assert rg_limits_apply_due(now=WEDNESDAY + DAY) == 1
        limit = WagerLimit.objects.get(player=player)
        assert (limit.amount, limit.pending_amount, limit.pending_from) == (90_000, None, None)

    def test_the_flag_a_debit_reads_stays_while_either_kind_is_left(self, client, player, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0

        def flagged():
            return Player.objects.get(pk=player.pk).has_bet_limits

        set_limit(client, 1_000)
        assert flagged()
        player_set_loss_limit(player=player, currency="EUR", period="day", amount=500, changed_by="s", reason="r")
        assert call(client, "DELETE", "p_wagers/wager-limits/EUR/day?reason=asked").status_code == 200
        assert flagged() and not WagerLimit.objects.exists()
        player_set_wager_limit(player=player, currency="EUR", period="month", amount=9, changed_by="s", reason="r")
        player_set_loss_limit(player=player, currency="EUR", period="day", amount=None, changed_by="s", reason="r")
        assert flagged()
        player_set_wager_limit(player=player, currency="EUR", period="month", amount=None, changed_by="s", reason="r")
        assert not flagged()

    def test_a_removal_in_force_after_the_cooling_off_clears_the_flag(self, client, player):
        with at(WEDNESDAY):
            set_limit(client, 1_000)
            assert call(client, "DELETE", "p_wagers/wager-limits/EUR/day?reason=asked").status_code == 200
        assert Player.objects.get(pk=player.pk).has_bet_limits  # the limit holds while the removal waits
        assert rg_limits_apply_due(now=WEDNESDAY + DAY) == 1
        assert not WagerLimit.objects.exists() and not Player.objects.get(pk=player.pk).has_bet_limits

    @pytest.mark.parametrize(
        "path, body, field",
        [
            ("p_wagers/wager-limits/eur/day", {"amount": 1}, "currency"),
            ("p_wagers/wager-limits/XTS/day", {"amount": 1}, "currency"),
            ("p_wagers/wager-limits/EUR/year", {"amount": 1}, "period"),
            ("p_wagers/wager-limits/EUR/day", {"amount": -1}, "amount"),
            ("p_wagers/wager-limits/EUR/day", {"amount": 10**15 + 1}, "amount"),
            ("p_wagers/wager-limits/EUR/day", {"amount": "100"}, "amount"),
            ("p_wagers/wager-limits/EUR/day", {"amount": 5.0}, "amount"),
            ("p_wagers/wager-limits/EUR/day", {}, "amount"),
        ],
    )
    def test_bad_requests_are_validation_errors_and_set_nothing(self, client, player, path, body, field):
        r = call(client, "PUT", path, body)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert field in r.json()["details"]
        assert not WagerLimit.objects.exists() and not Player.objects.get(pk=player.pk).has_bet_limits
        assert not PlayerAuditLog.objects.filter(field__startswith="wager_limit").exists()

    def test_an_unknown_player_is_not_found(self, client, sandbox):
        r = call(client, "PUT", "p_nobody/wager-limits/EUR/day", {"amount": 1})
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")

    def test_in_the_schema(self, client):
        schema = client.get("/api/schema/?format=json").json()
        operations = schema["paths"]["/api/v1/players/{player_id}/wager-limits/{currency}/{period}"]
        assert {operations["put"]["operationId"], operations["delete"]["operationId"]} == {
            "player_wager_limit_set",
            "player_wager_limit_remove",
        }
        assert "wagered" in schema["components"]["schemas"]["WagerLimitOutput"]["required"]


@pytest.mark.django_db
class TestABetAgainstTheLimit:
    def test_within_the_limit_then_refused_naming_the_wagers_and_nothing_moved(self, client, api, player):
        set_limit(client, 1_000)
        token = launch(player)
        assert bet(api, token, "w-1", 600).status == 200
        assert refused(
            bet(api, token, "w-2", 500), "This bet would take the day's wagers to 1100, over the limit of 1000 EUR."
        )
        assert balance() == 99_400
        assert not JournalTransaction.objects.filter(provider_transaction_id="w-2").exists()
        assert bet(api, token, "w-3", 400).status == 200  # exactly up to the limit
        assert balance() == 99_000
        state = call(client, "GET", "p_wagers/responsible-gambling").json()
        assert [(x["wagered"], x["remaining"]) for x in state["wager_limits"]] == [(1_000, 0)]

    def test_a_refusal_is_the_transactions_final_answer(self, client, api, player, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0
        set_limit(client, 100)
        token = launch(player)
        first = bet(api, token, "w-1", 500)
        assert refused(first, "This bet would take the day's wagers to 500, over the limit of 100 EUR.")
        assert call(client, "DELETE", "p_wagers/wager-limits/EUR/day?reason=asked").status_code == 200
        again = bet(api, token, "w-1", 500)
        assert (again.status, again.body["code"], again.headers["Idempotent-Replayed"]) == (403, "RG_LIMIT", "true")
        assert bet(api, token, "w-2", 500).status == 200

    def test_wins_do_not_make_room_and_rolled_back_bets_do(self, client, api, player):
        set_limit(client, 1_000)
        token = launch(player)
        assert bet(api, token, "w-1", 500, round_id="a").status == 200
        win = {
            "transaction_id": "c-1",
            "player_id": "p_wagers",
            "round_id": "a",
            "game_id": "sandbox:dice",
            "amount": 5_000,
            "currency": "EUR",
            "reason": "win",
        }
        assert api.post("credit", win).status == 200
        # A loss limit of the same size would take this bet: the player is 4,500 up.
        assert refused(
            bet(api, token, "w-2", 600, round_id="b"),
            "This bet would take the day's wagers to 1100, over the limit of 1000 EUR.",
        )
        assert bet(api, token, "w-3", 400, round_id="b").status == 200
        cancel = {"transaction_id": "rb-1", "reference_transaction_id": "w-3", "player_id": "p_wagers", "round_id": "b"}
        assert api.post("rollback", cancel).body["status"] == "rolled_back"
        assert bet(api, token, "w-4", 500, round_id="c").status == 200  # 500 + 500: the 400 came back
        assert balance() == 100_000 - 500 + 5_000 - 500
        state = call(client, "GET", "p_wagers/responsible-gambling").json()
        assert [(x["wagered"], x["remaining"]) for x in state["wager_limits"]] == [(1_000, 0)]

    def test_each_period_counts_its_own_bets_shortest_named_first(self, client, api, player):
        set_limit(client, 1_000, "day")
        set_limit(client, 1_500, "week")
        set_limit(client, 5_000, "month")
        with at(MONDAY):
            assert bet(api, launch(player), "w-mon", 900).status == 200
        with at(WEDNESDAY):
            token = launch(player)
            assert bet(api, token, "w-wed", 500).status == 200  # a new day; the week holds 1,400
            assert refused(
                bet(api, token, "w-day", 600),
                "This bet would take the day's wagers to 1100, over the limit of 1000 EUR.",
            )
            assert refused(
                bet(api, token, "w-week", 200),
                "This bet would take the week's wagers to 1600, over the limit of 1500 EUR.",
            )
            state = call(client, "GET", "p_wagers/responsible-gambling").json()
        assert [(x["period"], x["wagered"]) for x in state["wager_limits"]] == [
            ("day", 500),
            ("week", 1_400),
            ("month", 1_400),
        ]
        with at(WEDNESDAY + 5 * DAY):  # the next Monday: a new week, the same month
            assert bet(api, launch(player), "w-next", 900).status == 200

    def test_a_bet_rolled_back_in_a_later_period_makes_no_room_in_it(self, client, api, player):
        set_limit(client, 1_000)
        evening = datetime(2026, 12, 16, 23, 59, tzinfo=UTC)
        with at(evening):
            assert bet(api, launch(player), "w-late", 1_000, round_id="late").status == 200
        with at(evening + timedelta(minutes=2)):  # the next UTC day
            cancel = {
                "transaction_id": "rb-late",
                "reference_transaction_id": "w-late",
                "player_id": "p_wagers",
                "round_id": "late",
            }
            assert api.post("rollback", cancel).body["status"] == "rolled_back"
            token = launch(player)
            assert bet(api, token, "w-next", 1_000).status == 200  # the day's limit, not twice it
            assert refused(
                bet(api, token, "w-more", 1),
                "This bet would take the day's wagers to 1001, over the limit of 1000 EUR.",
            )
            state = call(client, "GET", "p_wagers/responsible-gambling").json()
        assert [(x["wagered"], x["remaining"]) for x in state["wager_limits"]] == [(1_000, 0)]
        assert balance() == 99_000

    def test_a_loss_limit_crossed_too_is_named_first(self, client, api, player):
        set_limit(client, 100)
        player_set_loss_limit(player=player, currency="EUR", period="week", amount=100, changed_by="s", reason="r")
        token = launch(player)
        assert refused(
            bet(api, token, "w-1", 500), "This bet would take the week loss to 500, over the limit of 100 EUR."
        )

    def test_another_currencys_bets_do_not_count(self, client, api, player):
        set_limit(client, 1_000)
        # USD needs a wager limit of the day too before a USD game launches (a limit binds
        # only its own currency): a wide one, which the USD bet stays under.
        r = call(client, "PUT", "p_wagers/wager-limits/USD/day", {"amount": 1_000_000, "reason": "asked"})
        assert r.status_code == 200, r.content
        r = call(client, "POST", "p_wagers/deposits", {"currency": "USD", "amount": 9_000, "reference": "in-usd"})
        assert r.status_code == 200, r.content
        game = Game.objects.get(game_id="sandbox:dice")
        usd = session_create(provider=game.provider, player=player, game=game, currency="USD")[1]
        body = {
            "transaction_id": "u-1",
            "session_token": usd,
            "round_id": "u",
            "game_id": "sandbox:dice",
            "amount": 5_000,
            "currency": "USD",
            "reason": "bet",
        }
        assert api.post("debit", body).status == 200
        assert bet(api, launch(player), "w-1", 1_000).status == 200


@pytest.mark.django_db
class TestTheLastMomentsOfADay:
    """A bet judged in the last moments of a day, while a movement judged just after midnight
    committed first (it held the wallet's lock while the bet waited): the day's limits count
    only what is booked in the day, up to its end, on both debit paths."""

    EVE = datetime(2026, 12, 16, 23, 59, 59, 995_000, tzinfo=UTC)
    AFTER = datetime(2026, 12, 17, 0, 0, 0, 1_000, tzinfo=UTC)

    def prize(self, api, tx, amount):
        body = {
            "transaction_id": tx,
            "player_id": "p_wagers",
            "round_id": f"r-{tx}",
            "game_id": "sandbox:dice",
            "amount": amount,
            "currency": "EUR",
            "reason": "prize",
        }
        assert api.post("credit", body).status == 200

    def test_a_win_booked_after_midnight_makes_no_room_under_the_days_loss_limit(self, client, api, player):
        with at(self.EVE - timedelta(minutes=5)):
            r = call(client, "PUT", "p_wagers/loss-limits/EUR/day", {"amount": 1_000, "reason": "asked"})
            assert r.status_code == 200, r.content
            token = launch(player)
            assert bet(api, token, "l-1", 1_000).status == 200
        with at(self.AFTER):
            self.prize(api, "p-1", 5_000)
        with at(self.EVE):
            assert refused(
                bet(api, token, "l-2", 500),
                "This bet would take the day loss to 1500, over the limit of 1000 EUR.",
            )
        with at(self.AFTER):  # the next day has the whole limit, and the win besides
            assert bet(api, token, "l-3", 1_000).status == 200

    def test_a_rollback_booked_after_midnight_makes_no_room_under_the_days_wager_limit(self, client, api, player):
        set_limit(client, 1_000)
        with at(self.EVE - timedelta(minutes=5)):
            token = launch(player)
            assert bet(api, token, "w-1", 1_000, round_id="a").status == 200
        with at(self.AFTER):
            cancel = {
                "transaction_id": "rb-1",
                "reference_transaction_id": "w-1",
                "player_id": "p_wagers",
                "round_id": "a",
            }
            assert api.post("rollback", cancel).body["status"] == "rolled_back"
        with at(self.EVE):
            assert refused(
                bet(api, token, "w-2", 500, round_id="b"),
                "This bet would take the day's wagers to 1500, over the limit of 1000 EUR.",
            )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_database", [True, False], ids=["in_database", "python"])
def test_parallel_debits_over_http_never_cross_the_limit(live_server, settings, in_database):
    """Eight bets of 3,000 against a daily wager limit of 10,000, each from its own thread and
    connection: three are taken, five refused, and the ledger holds exactly the three."""
    settings.WALLET_DEBIT_IN_DATABASE = in_database
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    casino = requests.Session()
    casino.headers.update(TOKEN)
    base = f"{live_server.url}/api/v1"
    assert casino.put(f"{base}/players/p_race", json={}, timeout=10).status_code == 201
    deposit = {"currency": "EUR", "amount": 100_000, "reference": "race-in"}
    assert casino.post(f"{base}/players/p_race/deposits", json=deposit, timeout=10).status_code == 200
    limit = casino.put(f"{base}/players/p_race/wager-limits/EUR/day", json={"amount": 10_000}, timeout=10)
    assert limit.status_code == 200, limit.text
    launch_body = {"player_id": "p_race", "game_id": "sandbox:dice", "currency": "EUR"}
    token = casino.post(f"{base}/sessions", json=launch_body, timeout=10).json()["session_token"]

    def post(n):
        with requests.Session() as http:
            wallet = ProviderClient(base_url=live_server.url, session=http)
            return bet(wallet, token, f"race-{n}", 3_000).body.get("code", "OK")

    outcomes = sorted(together_behind_a_lock(lambda: player_locked("p_race"), post, 8))
    assert outcomes == ["OK"] * 3 + ["RG_LIMIT"] * 5
    assert balance("p_race") == 91_000
    assert JournalTransaction.objects.filter(kind="debit", provider_transaction_id__startswith="race-").count() == 3
    assert ledger_reconcile().ok


@pytest.mark.django_db
class TestAdmin:
    def url(self, player):
        return reverse("admin:players_player_wager_limit", args=[player.pk])

    def test_set_from_the_players_page_and_shown_there(self, admin_client, admin_user, client, player):
        page = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert self.url(player).encode() in page.content
        assert b"wins are not deducted" in admin_client.get(self.url(player)).content
        r = admin_client.post(
            self.url(player), {"currency": "EUR", "period": "week", "amount": "200.00", "reason": "phoned in"}
        )
        assert r.status_code == 302, r.content
        assert str(list(r.wsgi_request._messages)[-1]) == "The week wager limit in EUR is 200.00 EUR, in force now."
        limit = WagerLimit.objects.get(player=player)
        assert (limit.period, limit.amount) == ("week", 20_000)
        assert PlayerAuditLog.objects.filter(field="wager_limit_week_EUR", changed_by=admin_user.username).exists()
        assert Player.objects.get(pk=player.pk).has_bet_limits
        api = ProviderClient(client)
        assert bet(api, launch(player), "w-1", 5_000).status == 200
        page = admin_client.get(reverse("admin:players_player_change", args=[player.pk])).content.decode()
        assert "Wager limits" in page and "50.00 EUR (150.00 EUR left)" in page

    def test_needs_the_permission_to_change_wager_limits(self, client, player, django_user_model):
        staff = django_user_model.objects.create_user("support", password="pw", is_staff=True)
        staff.user_permissions.add(
            *Permission.objects.filter(codename__in=["change_player", "view_player", "change_losslimit"])
        )
        client.force_login(staff)
        r = client.post(self.url(player), {"currency": "EUR", "period": "day", "amount": "1", "reason": "x"})
        assert r.status_code == 302 and not WagerLimit.objects.exists()
        assert str(list(r.wsgi_request._messages)[-1]) == "You may not change players' wager limits."
