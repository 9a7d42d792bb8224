"""Deposit limits: set like loss limits (stricter at once, looser after the cooling-off), and
held against the cashier's deposits under the player's lock; over Django's test client, and
over a socket with parallel deposits for the race."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import requests
from django.core.management import call_command
from django.urls import reverse

from casino_platform.tests.locks import player_locked, together_behind_a_lock
from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import DepositLimit, Player, PlayerAuditLog
from players.services import player_set_deposit_limit, player_set_loss_limit, rg_limits_apply_due
from wallet.models import Wallet
from wallet.services import wallet_deposit
from wallet.tests.test_cashier import TOKEN, call

DAY = timedelta(hours=24)
# A Wednesday at noon: its day, its ISO week (from Monday 2026-12-14) and its month differ.
WEDNESDAY = datetime(2026, 12, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))


@pytest.fixture
def player(client, sandbox):
    """A player of the casino's own, with no deposits yet (the sandbox's demo players have some)."""
    r = call(client, "PUT", "p_limits", {"display_name": "Limits", "kyc_status": "verified"})
    assert r.status_code == 201, r.content
    return Player.objects.get(player_id="p_limits")


def set_limit(client, amount, period="day", currency="EUR", player_id="p_limits"):
    r = call(client, "PUT", f"{player_id}/deposit-limits/{currency}/{period}", {"amount": amount, "reason": "asked"})
    assert r.status_code == 200, r.content
    return r.json()


def deposit(client, amount, reference, currency="EUR", player_id="p_limits"):
    return call(
        client, "POST", f"{player_id}/deposits", {"currency": currency, "amount": amount, "reference": reference}
    )


def balance(player_id="p_limits", currency="EUR") -> int:
    wallet = Wallet.objects.filter(player__player_id=player_id, currency_id=currency).first()
    return wallet.balance if wallet else 0


def at(moment):
    """Stamp what follows (entries included) at `moment`."""
    return mock.patch("casino_platform.clock.now", return_value=moment)


@pytest.mark.django_db
class TestSettingALimit:
    def test_stricter_at_once_looser_after_the_cooling_off_and_audited(self, player):
        def set_(amount):
            return player_set_deposit_limit(
                player=player, currency="EUR", period="week", amount=amount, changed_by="staff", reason="asked"
            )

        with at(WEDNESDAY):
            set_(50_000)
            set_(20_000)
            limit = set_(90_000)
        assert (limit.amount, limit.pending_amount, limit.pending_from) == (20_000, 90_000, WEDNESDAY + DAY)
        fields = list(
            PlayerAuditLog.objects.filter(player=player, field__startswith="deposit_limit")
            .order_by("id")
            .values_list("field", "old_value", "new_value")
        )
        assert fields == [
            ("deposit_limit_week_EUR", "", "50000"),
            ("deposit_limit_week_EUR", "50000", "20000"),
            ("deposit_limit_week_EUR_pending", "", f"90000 from {(WEDNESDAY + DAY).isoformat()}"),
        ]
        # A deposit limit is no loss limit: the debit's flag stays off.
        assert not Player.objects.get(pk=player.pk).has_bet_limits

    def test_the_sweep_puts_both_kinds_in_force(self, player):
        with at(WEDNESDAY):
            for set_limit_of_kind in (player_set_deposit_limit, player_set_loss_limit):
                for amount in (1_000, None):  # a limit, then its removal waiting
                    set_limit_of_kind(
                        player=player, currency="EUR", period="day", amount=amount, changed_by="p", reason="asked"
                    )
        assert rg_limits_apply_due(now=WEDNESDAY + DAY - timedelta(seconds=1)) == 0
        assert rg_limits_apply_due(now=WEDNESDAY + DAY) == 2
        assert not DepositLimit.objects.exists() and not player.loss_limits.exists()

    @pytest.mark.parametrize(
        "path, body, field",
        [
            ("p_limits/deposit-limits/eur/day", {"amount": 1}, "currency"),
            ("p_limits/deposit-limits/EUR/year", {"amount": 1}, "period"),
            ("p_limits/deposit-limits/EUR/day", {"amount": -1}, "amount"),
            ("p_limits/deposit-limits/EUR/day", {"amount": 10**15 + 1}, "amount"),
            ("p_limits/deposit-limits/EUR/day", {"amount": "100"}, "amount"),
            ("p_limits/deposit-limits/EUR/day", {}, "amount"),
        ],
    )
    def test_bad_requests_are_validation_errors_and_set_nothing(self, client, player, path, body, field):
        r = call(client, "PUT", path, body)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert field in r.json()["details"]
        assert not DepositLimit.objects.exists()
        assert not PlayerAuditLog.objects.filter(field__startswith="deposit_limit").exists()

    def test_an_unknown_player_is_not_found(self, client, sandbox):
        r = call(client, "PUT", "p_nobody/deposit-limits/EUR/day", {"amount": 1})
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")

    def test_in_the_schema(self, client):
        paths = client.get("/api/schema/?format=json").json()["paths"]
        operations = paths["/api/v1/players/{player_id}/deposit-limits/{currency}/{period}"]
        assert {operations["put"]["operationId"], operations["delete"]["operationId"]} == {
            "player_deposit_limit_set",
            "player_deposit_limit_remove",
        }


@pytest.mark.django_db
class TestADepositAgainstTheLimit:
    def test_within_the_limit_then_refused_with_what_remains_and_nothing_moved(self, client, player):
        set_limit(client, 10_000)
        assert deposit(client, 6_000, "d-1").status_code == 200
        refused = deposit(client, 5_000, "d-2")
        assert (refused.status_code, refused.json()["code"]) == (403, "RG_LIMIT")
        assert (
            refused.json()["message"]
            == "This deposit would take the day's deposits to 11000, over the limit of 10000 EUR."
        )
        assert refused.json()["details"] == {"deposit_limit": {"period": "day", "amount": 10_000, "remaining": 4_000}}
        assert balance() == 6_000
        assert deposit(client, 4_000, "d-3").status_code == 200  # exactly up to the limit
        assert balance() == 10_000
        assert ledger_reconcile().ok

    def test_a_refusal_is_the_references_final_answer(self, client, player):
        set_limit(client, 1_000)
        assert deposit(client, 2_000, "d-final").status_code == 403
        # Loosened at once (no limit at all): the same payment still answers its first refusal.
        DepositLimit.objects.all().delete()
        again = deposit(client, 2_000, "d-final")
        assert (again.status_code, again.headers["Idempotent-Replayed"]) == (403, "true")
        assert balance() == 0 and not Wallet.objects.filter(player=player).exists()

    def test_a_first_deposit_over_the_limit_opens_no_wallet(self, client, player):
        set_limit(client, 1_000, currency="USD")
        assert deposit(client, 1_001, "usd-1", currency="USD").status_code == 403
        assert not Wallet.objects.filter(player=player, currency_id="USD").exists()
        assert deposit(client, 1_000, "usd-2", currency="USD").status_code == 200
        assert balance(currency="USD") == 1_000

    def test_each_currency_has_its_own_limits(self, client, player):
        set_limit(client, 1_000, currency="USD")
        set_limit(client, 60_000, currency="EUR")
        r = deposit(client, 50_000, "eur-1")
        assert (r.status_code, r.json()["balance"], balance()) == (200, 50_000, 50_000)
        assert JournalTransaction.objects.filter(kind="deposit", provider_transaction_id="eur-1").count() == 1
        refused = deposit(client, 1_001, "usd-1", currency="USD")
        assert (refused.status_code, refused.json()["code"]) == (403, "RG_LIMIT")
        assert refused.json()["details"] == {"deposit_limit": {"period": "day", "amount": 1_000, "remaining": 1_000}}
        assert balance(currency="USD") == 0
        assert not JournalTransaction.objects.filter(provider_transaction_id="usd-1").exists()
        assert ledger_reconcile().ok

    def test_a_limit_of_nothing_binds_deposits_in_every_currency(self, client, player):
        # No exchange rates: a limit counts only its own currency, so an EUR limit of 0 left a
        # USD wallet wide open until a currency without a limit of the period is refused.
        set_limit(client, 0, period="month", currency="EUR")
        assert deposit(client, 100, "eur-1").status_code == 403
        refused = deposit(client, 500_000, "usd-1", currency="USD")
        assert (refused.status_code, refused.json()["code"]) == (403, "RG_LIMIT"), refused.content
        assert refused.json()["message"] == (
            "Player p_limits has a deposit limit per month in EUR and none in USD: set one in USD first "
            "(PUT /api/v1/players/p_limits/deposit-limits/USD/month); a limit counts only its own currency's deposits."
        )
        assert refused.json()["details"] == {
            "deposit_limit_missing": {"currency": "USD", "period": "month", "limited_in": ["EUR"]}
        }
        assert not Wallet.objects.filter(player=player).exists()
        # A limit of another period does not stand in for the month's ...
        set_limit(client, 50_000, period="day", currency="USD")
        refused = deposit(client, 1_000, "usd-2", currency="USD")
        assert refused.json()["details"]["deposit_limit_missing"]["period"] == "month"
        # ... and the EUR limit has no day: EUR deposits now need one too.
        assert deposit(client, 100, "eur-2").json()["details"]["deposit_limit_missing"]["period"] == "day"
        set_limit(client, 20_000, period="month", currency="USD")
        assert deposit(client, 20_000, "usd-3", currency="USD").status_code == 200
        refused = deposit(client, 1, "usd-4", currency="USD")
        assert refused.json()["details"] == {"deposit_limit": {"period": "month", "amount": 20_000, "remaining": 0}}
        assert balance(currency="USD") == 20_000 and balance() == 0
        assert ledger_reconcile().ok

    def test_withdrawals_do_not_make_room_and_staff_deposits_count(self, client, player):
        set_limit(client, 10_000)
        assert deposit(client, 8_000, "d-1").status_code == 200
        r = call(client, "POST", "p_limits/withdrawals", {"currency": "EUR", "amount": 8_000, "reference": "w-1"})
        assert (r.status_code, r.json()["balance"]) == (200, 0)
        assert deposit(client, 3_000, "d-2").status_code == 403
        # Staff record money that has already arrived: not refused, but it counts.
        wallet_deposit(player_id="p_limits", currency="EUR", amount=1_500, created_by="staff", reason="bank transfer")
        assert deposit(client, 1_000, "d-3").status_code == 403
        assert balance() == 1_500
        assert not JournalTransaction.objects.filter(provider_transaction_id__in=["d-2", "d-3"]).exists()
        r = deposit(client, 500, "d-4")
        assert (r.status_code, r.json()["balance"], balance()) == (200, 2_000, 2_000)
        assert ledger_reconcile().ok

    def test_each_period_counts_its_own_deposits_shortest_named_first(self, client, player):
        set_limit(client, 5_000, period="day")
        set_limit(client, 8_000, period="week")
        set_limit(client, 9_000, period="month")
        with at(WEDNESDAY - 9 * DAY):  # the Monday before: last week, this month
            assert deposit(client, 1_000, "last-week").status_code == 200
        with at(WEDNESDAY - 2 * DAY):  # Monday, the week's first day
            assert deposit(client, 5_000, "mon").status_code == 200
        with at(WEDNESDAY):
            # Today: nothing yet, but the week has 5,000 of its 8,000.
            r = deposit(client, 3_500, "wed-1")
            assert r.json()["details"]["deposit_limit"] == {"period": "week", "amount": 8_000, "remaining": 3_000}
            # Over the day's limit and the week's: the day is named.
            r = deposit(client, 5_001, "wed-2")
            assert r.json()["details"]["deposit_limit"]["period"] == "day"
            # The month has 6,000 of its 9,000; the week's remaining 3,000 fits it too.
            assert deposit(client, 3_000, "wed-3").status_code == 200
            state = call(client, "GET", "p_limits/responsible-gambling").json()
        assert [(row["period"], row["deposited"], row["remaining"]) for row in state["deposit_limits"]] == [
            ("day", 3_000, 2_000),
            ("week", 8_000, 0),
            ("month", 9_000, 0),
        ]

    def test_a_looser_limit_waits_its_cooling_off(self, client, player):
        set_limit(client, 1_000)
        state = set_limit(client, 50_000)
        assert state["deposit_limits"][0]["pending"]["amount"] == 50_000
        assert deposit(client, 2_000, "too-soon").status_code == 403
        assert rg_limits_apply_due(now=datetime.now(UTC) + DAY + timedelta(seconds=1)) == 1
        assert deposit(client, 2_000, "later").status_code == 200

    def test_a_removed_limit_no_longer_holds_after_the_cooling_off(self, client, player, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 0
        set_limit(client, 1_000)
        r = call(client, "DELETE", "p_limits/deposit-limits/EUR/day?reason=player%20asked")
        assert (r.status_code, r.json()["deposit_limits"]) == (200, [])
        assert deposit(client, 2_000, "free").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_parallel_deposits_over_http_never_cross_the_limit(live_server):
    """Eight deposits of 3,000 against a daily limit of 10,000, each from its own thread and
    connection, all waiting on the player's lock at once: three are taken, five refused, and
    the ledger holds exactly the three."""
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    base = f"{live_server.url}/api/v1/players/p_race"
    with requests.Session() as http:
        http.headers.update(TOKEN)
        assert http.put(base, json={}, timeout=10).status_code == 201
        assert http.put(f"{base}/deposit-limits/EUR/day", json={"amount": 10_000}, timeout=10).status_code == 200

    def post(n):
        with requests.Session() as http:
            body = {"currency": "EUR", "amount": 3_000, "reference": f"race-{n}"}
            r = http.post(f"{base}/deposits", json=body, headers=TOKEN, timeout=30)
            return r.json().get("code", "OK")

    outcomes = sorted(together_behind_a_lock(lambda: player_locked("p_race"), post, 8))
    assert outcomes == ["OK"] * 3 + ["RG_LIMIT"] * 5
    assert balance("p_race") == 9_000
    assert (
        JournalTransaction.objects.filter(
            kind="deposit", created_by="operator:sandbox", provider_transaction_id__startswith="race-"
        ).count()
        == 3
    )
    assert ledger_reconcile().ok


@pytest.mark.django_db
class TestAdmin:
    def url(self, player):
        return reverse("admin:players_player_deposit_limit", args=[player.pk])

    def test_set_from_the_players_page_and_shown_there(self, admin_client, admin_user, player):
        page = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert self.url(player).encode() in page.content
        assert b"cashier deposit" in admin_client.get(self.url(player)).content
        r = admin_client.post(
            self.url(player), {"currency": "EUR", "period": "week", "amount": "200.00", "reason": "phoned in"}
        )
        assert r.status_code == 302, r.content
        assert str(list(r.wsgi_request._messages)[-1]) == "The week deposit limit in EUR is 200.00 EUR, in force now."
        limit = DepositLimit.objects.get(player=player)
        assert (limit.period, limit.amount) == ("week", 20_000)
        assert PlayerAuditLog.objects.filter(field="deposit_limit_week_EUR", changed_by=admin_user.username).exists()
        assert deposit(admin_client, 5_000, "adm-1").status_code == 200
        player_set_loss_limit(player=player, currency="EUR", period="day", amount=1_000, changed_by="s", reason="r")
        page = admin_client.get(reverse("admin:players_player_change", args=[player.pk])).content.decode()
        # What each limit has used: the deposit counts against the deposit limit, not the loss limit.
        assert "50.00 EUR (150.00 EUR left)" in page and "0.00 EUR (10.00 EUR left)" in page

    def test_needs_the_permission_to_change_deposit_limits(self, client, player, django_user_model):
        from django.contrib.auth.models import Permission

        staff = django_user_model.objects.create_user("support", password="pw", is_staff=True)
        staff.user_permissions.add(
            *Permission.objects.filter(codename__in=["change_player", "view_player", "change_losslimit"])
        )
        client.force_login(staff)
        r = client.post(self.url(player), {"currency": "EUR", "period": "day", "amount": "1", "reason": "x"})
        assert r.status_code == 302 and not DepositLimit.objects.exists()
        assert str(list(r.wsgi_request._messages)[-1]) == "You may not change players' deposit limits."


@pytest.mark.django_db(transaction=True)
def test_racing_settings_of_one_limit_leave_one_limit_and_no_500(live_server):
    """Six PUTs of the same day limit, each from its own connection, all waiting on the
    player's lock at once: each is answered (none trips the one-limit-per-period key), and
    the tightest is what holds (a tighter limit takes effect at once; a looser one waits)."""
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    base = f"{live_server.url}/api/v1/players/p_demo_1/deposit-limits/EUR/day"

    def put(n):
        with requests.Session() as http:
            return http.put(base, json={"amount": 1_000 * (n + 1)}, headers=TOKEN, timeout=30).status_code

    assert together_behind_a_lock(lambda: player_locked("p_demo_1"), put, 6) == [200] * 6
    (limit,) = DepositLimit.objects.filter(player__player_id="p_demo_1", currency_id="EUR", period="day")
    assert limit.amount == 1_000
