"""Account closure at the player's request: no play, no deposits, sessions ended; credits still
paid and the money left still the player's to withdraw; a blocked account stays frozen. A
block, a self-exclusion and a time-out end the sessions too."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from casino_platform.tests.pages import form_as_shown
from casino_platform.tests.test_metrics import scrape, value
from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import Player, PlayerAuditLog
from players.services import player_block, player_update
from sessions.models import GameSession
from wallet.tests.api_client import ProviderClient, debit_payload, launch
from wallet.tests.test_cashier import TOKEN, balance, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def close(client, player_id="p_demo_1", **body):
    return call(client, "POST", f"{player_id}/close", body)


def credit_payload(tx, round_id, amount=250):
    return {
        "transaction_id": tx,
        "player_id": "p_demo_1",
        "round_id": round_id,
        "game_id": "sandbox:dice",
        "amount": amount,
        "currency": "EUR",
        "reason": "win",
    }


class TestClose:
    def test_the_account_closes_audited_and_its_sessions_end(self, client, sandbox):
        token = launch("p_demo_1")
        r = close(client, reason="player asked by e-mail")
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["status"] == "closed"
        assert [(w["currency"], w["balance"]) for w in body["wallets"]] == [("EUR", 100_000)]  # still to pay out
        audit = PlayerAuditLog.objects.get(player__player_id="p_demo_1", field="status")
        assert (audit.old_value, audit.new_value, audit.reason, audit.changed_by) == (
            "active",
            "closed",
            "player asked by e-mail",
            "operator:sandbox",
        )
        assert not GameSession.objects.filter(player__player_id="p_demo_1", closed_at__isnull=True).exists()
        assert ProviderClient(client).post("debit", debit_payload(token, "d-after")).body["code"] == "SESSION_EXPIRED"

    def test_closing_again_changes_nothing(self, client, sandbox):
        close(client, reason="first")
        r = close(client, reason="second")
        assert (r.status_code, r.json()["status"]) == (200, "closed")
        assert PlayerAuditLog.objects.filter(player__player_id="p_demo_1", field="status").count() == 1

    def test_a_blocked_account_stays_frozen(self, client, sandbox):
        player_block(player=Player.objects.get(player_id="p_demo_1"), changed_by="staff:a", reason="fraud check")
        r = close(client)
        assert (r.status_code, r.json()["code"]) == (403, "PLAYER_BLOCKED")
        assert Player.objects.get(player_id="p_demo_1").status == "blocked"

    def test_unknown_player_and_bad_reason(self, client, sandbox):
        assert close(client, "p_nobody").json()["code"] == "PLAYER_NOT_FOUND"
        assert close(client, reason=42).json()["code"] == "VALIDATION_ERROR"
        assert Player.objects.get(player_id="p_demo_1").status == "active"

    def test_in_the_schema(self, client):
        schema = client.get("/api/schema/?format=json").json()
        operation = schema["paths"]["/api/v1/players/{player_id}/close"]["post"]
        assert "PLAYER_BLOCKED" in str(operation["responses"]["403"])


class TestBlockAndRestrictionsEndPlayToo:
    """A block, a self-exclusion and a time-out end the player's game sessions as the
    account's close does (they were left open, the provider's game offering bets each refused
    with PLAYER_BLOCKED or RG_LIMIT): its next debit is SESSION_EXPIRED; wins owed are paid."""

    @pytest.mark.parametrize("how", ["block", "self-exclusion", "time-out"])
    def test_the_player_s_open_sessions_end(self, client, sandbox, how):
        token = launch("p_demo_1")
        launch("p_kyc_pending")  # another player's, which plays on
        api = ProviderClient(client)
        assert api.post("debit", debit_payload(token, "d-before")).status == 200
        if how == "block":
            player_block(player=Player.objects.get(player_id="p_demo_1"), changed_by="staff:a", reason="fraud check")
        else:
            until = (timezone.now() + timedelta(days=200)).isoformat()
            r = call(client, "POST", f"p_demo_1/{how}", {"until": until, "reason": "asked by the player"})
            assert r.status_code == 200, r.content
        assert not GameSession.objects.filter(player__player_id="p_demo_1", closed_at__isnull=True).exists()
        assert GameSession.objects.filter(player__player_id="p_kyc_pending", closed_at__isnull=True).count() == 1
        assert api.post("debit", debit_payload(token, "d-after")).body["code"] == "SESSION_EXPIRED"
        assert api.post("authenticate", {"session_token": token}).body["code"] == "SESSION_EXPIRED"
        assert api.post("credit", credit_payload("c-owed", "r-d-before")).status == 200

    def test_a_restriction_already_ended_or_another_change_ends_nothing(self, sandbox):
        launch("p_demo_1")
        player = Player.objects.get(player_id="p_demo_1")
        player_update(
            player=player,
            changed_by="staff:a",
            reason="recorded late",
            timed_out_until=timezone.now() - timedelta(hours=1),
        )
        player_update(player=player, changed_by="staff:a", reason="typo", display_name="Demo One")
        assert GameSession.objects.filter(player=player, closed_at__isnull=True).count() == 1


class TestAfterClosure:
    @pytest.fixture
    def closed(self, client, sandbox):
        self.api = ProviderClient(client)
        token = launch("p_demo_1")
        assert self.api.post("debit", debit_payload(token, "d-before", amount=1_000)).status == 200
        close(client, reason="leaving")

    def test_no_launch_and_no_deposit(self, client, closed):
        r = client.post(
            "/api/v1/sessions",
            {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers=TOKEN,
        )
        assert (r.status_code, r.json()["code"]) == (403, "PLAYER_BLOCKED")
        assert r.json()["message"] == "Player p_demo_1 has closed their account."
        r = call(client, "POST", "p_demo_1/deposits", {"currency": "EUR", "amount": 500, "reference": "d-c"})
        assert (r.status_code, r.json()["code"]) == (403, "PLAYER_BLOCKED")
        assert r.json()["message"] == "Player p_demo_1 has closed their account."
        assert balance() == 99_000
        assert not JournalTransaction.objects.filter(provider_transaction_id="d-c").exists()

    def test_a_win_owed_is_paid_and_the_money_can_leave(self, client, closed):
        r = self.api.post("credit", credit_payload("c-owed", "r-d-before"))
        assert (r.status, r.body["balance"]) == (200, 99_250)
        r = call(client, "POST", "p_demo_1/withdrawals", {"currency": "EUR", "amount": 99_250, "reference": "po-all"})
        assert (r.status_code, r.json()["status"], r.json()["balance"]) == (200, "approved", 0), r.content
        assert ledger_reconcile().ok

    def test_withdrawals_still_need_kyc(self, client, closed):
        Player.objects.filter(player_id="p_demo_1").update(kyc_status=Player.KycStatus.PENDING)
        r = call(client, "POST", "p_demo_1/withdrawals", {"currency": "EUR", "amount": 100, "reference": "po-k"})
        assert (r.status_code, r.json()["code"]) == (403, "KYC_REQUIRED")
        assert balance() == 99_000
        assert not JournalTransaction.objects.filter(provider_transaction_id="po-k").exists()
        assert ledger_reconcile().ok

    def test_what_closed_accounts_still_hold_is_found_until_paid_out(self, client, admin_client, closed):
        """The operator owes a closed account its balance: /metrics counts them per currency and
        the admin's player list finds them (status closed, holds money) until it is paid out."""
        close(client, "p_demo_2", reason="leaving too")
        close(client, "p_kyc_pending", reason="leaving as well")
        call(client, "POST", "p_demo_2/withdrawals", {"currency": "USD", "amount": 100_000, "reference": "po-d2"})
        samples = scrape(client)
        assert value(samples, "closed_accounts_holding_money", currency="EUR") == 2
        assert value(samples, "closed_accounts_holding_money_amount", currency="EUR") == 99_000 + 10_000
        assert value(samples, "closed_accounts_holding_money", currency="USD") == 0  # p_demo_2 paid out
        listing = reverse("admin:players_player_changelist") + "?status__exact=closed&holds_money="
        owed = admin_client.get(listing + "yes").content.decode()
        assert "p_demo_1" in owed and "p_kyc_pending" in owed and "p_demo_2" not in owed
        settled = admin_client.get(listing + "no").content.decode()
        assert "p_demo_2" in settled and "p_demo_1" not in settled
        call(client, "POST", "p_demo_1/withdrawals", {"currency": "EUR", "amount": 99_000, "reference": "po-d1"})
        assert value(scrape(client), "closed_accounts_holding_money", currency="EUR") == 1

    @pytest.mark.parametrize("in_database", [True, False])
    def test_a_debit_on_a_session_left_open_is_refused_on_both_paths(self, client, closed, settings, in_database):
        """Sessions end with the account; if one were left open (a session row written by a
        version before closure existed), the status still refuses the bet, in SQL and in Python."""
        settings.WALLET_DEBIT_IN_DATABASE = in_database
        token = launch_ignoring_status("p_demo_1")
        r = self.api.post("debit", debit_payload(token, f"d-open-{in_database}"))
        assert (r.status, r.body["code"]) == (403, "PLAYER_BLOCKED")
        assert r.body["message"] == "Player p_demo_1 has closed their account."
        assert balance() == 99_000


def launch_ignoring_status(player_id):
    """A live session for a player whatever their status (as one opened before the closure)."""
    player = Player.objects.get(player_id=player_id)
    Player.objects.filter(pk=player.pk).update(status=Player.Status.ACTIVE)
    token = launch(player_id)
    Player.objects.filter(pk=player.pk).update(status=player.status)
    return token


def edit_on_the_page(admin_client, player, **changes):
    url = reverse("admin:players_player_change", args=[player.pk])
    data = form_as_shown(admin_client.get(url))
    data.update({"change_reason": "asked by the player", **changes})
    return admin_client.post(url, data)


class TestAdmin:
    def test_staff_reopen_on_the_page_audited_and_unblock_does_not(self, client, admin_client, sandbox):
        close(client, reason="leaving")
        player = Player.objects.get(player_id="p_demo_1")
        admin_client.post(
            reverse("admin:players_player_changelist"),
            {"action": "unblock_players", "_selected_action": [player.pk], "confirm": "yes", "reason": "by mistake"},
        )
        assert Player.objects.get(pk=player.pk).status == "closed"
        r = edit_on_the_page(admin_client, player, status="active")
        assert r.status_code == 302, r.content
        assert Player.objects.get(pk=player.pk).status == "active"
        assert PlayerAuditLog.objects.filter(player=player, field="status", new_value="active").exists()
        listing = admin_client.get(reverse("admin:players_player_changelist") + "?status__exact=closed")
        assert listing.status_code == 200

    def test_staff_closing_on_the_page_ends_the_sessions_too(self, admin_client, sandbox):
        launch("p_demo_1")
        player = Player.objects.get(player_id="p_demo_1")
        assert edit_on_the_page(admin_client, player, status="closed").status_code == 302
        assert Player.objects.get(pk=player.pk).status == "closed"
        assert not GameSession.objects.filter(player=player, closed_at__isnull=True).exists()
