"""Operator API keys hold scopes: lobby (the catalogue, game sessions), players (registration,
limits, history), cashier (deposits, withdrawals) and kyc (a player's identity-check status):
a key kept in the casino's front end need not be able to pay money in or out."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import JSONField, Value
from django.urls import reverse
from rest_framework.test import APIRequestFactory

from ledger.models import SettingChange
from players.models import Player
from sessions.api.views import OperatorApiView
from sessions.models import OperatorApiKey
from sessions.services import operator_api_key_create
from sessions.tests.operator_api import METHODS, operator_views, route_parameters
from wallet.models import Wallet
from wallet.tests.test_cashier import call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def key_with(*scopes: str) -> dict[str, str]:
    _, key = operator_api_key_create(name="-".join(scopes) or "none", scopes=list(scopes))
    return {"Authorization": f"Token {key}"}


# Which scope each operator endpoint is in, by URL name: a move of one is a decision, made here too.
SCOPE_OF = {
    "game-catalogue": "lobby",
    "session-create": "lobby",
    "session-state": "lobby",
    "session-close": "lobby",
    "player-sessions": "lobby",
    "player-sessions-close": "lobby",
    "player": "players",
    "player-rg": "players",
    "player-loss-limit": "players",
    "player-wager-limit": "players",
    "player-deposit-limit": "players",
    "player-session-time-limit": "players",
    "player-daily-play-time-limit": "players",
    "player-self-exclusion": "players",
    "player-self-exclusion-resume": "players",
    "player-time-out": "players",
    "player-close": "players",
    "player-transactions": "players",
    "player-statement": "players",
    "player-rounds": "players",
    "player-round": "players",
    "player-deposit": "cashier",
    "player-withdrawal": "cashier",
    "player-withdrawal-state": "cashier",
    "player-withdrawal-cancel": "cashier",
    "player-withdrawal-return": "cashier",
    "withdrawal-events": "cashier",
}
ARGS = {
    "player_id": "p_demo_1",
    "currency": "EUR",
    "period": "day",
    "reference": "po-1",
    "session_id": 1,
    "provider": "sandbox",
    "round_id": "r-1",
}


def test_every_operator_endpoint_is_in_the_scope_the_table_says():
    views = operator_views()
    assert {name: getattr(view, "operator_scope", None) for name, (_, view) in views.items()} == SCOPE_OF
    assert all(issubclass(view, OperatorApiView) for _, view in views.values())


@pytest.mark.parametrize("name", sorted(SCOPE_OF))
def test_a_key_of_every_other_scope_is_refused_and_nothing_moves(client, sandbox, name):
    from ledger.models import JournalTransaction
    from players.models import PlayerAuditLog

    path, view = operator_views()[name]
    url = reverse(name, kwargs={arg: ARGS[arg] for _, arg in route_parameters(path)})
    others = [scope for scope in OperatorApiKey.Scope.values if scope != SCOPE_OF[name]]
    headers = key_with(*others)
    before = (JournalTransaction.objects.count(), PlayerAuditLog.objects.count(), SettingChange.objects.count())
    for method in METHODS:
        if hasattr(view, method):
            r = client.generic(method.upper(), url, data="{}", content_type="application/json", headers=headers)
            assert (r.status_code, r.json()["code"]) == (403, "SCOPE_NOT_GRANTED"), (method, url)
            assert r.json()["details"]["required_scope"] == SCOPE_OF[name]
    assert (JournalTransaction.objects.count(), PlayerAuditLog.objects.count(), SettingChange.objects.count()) == before


class TestRefusals:
    def test_a_lobby_key_launches_but_moves_no_money(self, client, sandbox):
        lobby = key_with("lobby")
        assert client.get("/api/v1/games", headers=lobby).status_code == 200
        launched = client.post(
            "/api/v1/sessions",
            {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers=lobby,
        )
        assert launched.status_code == 201, launched.content
        assert call(client, "GET", "p_demo_1/sessions", headers=lobby).status_code == 200
        balance = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR").balance
        r = call(
            client, "POST", "p_demo_1/deposits", {"currency": "EUR", "amount": 500, "reference": "x"}, headers=lobby
        )
        assert r.status_code == 403
        body = r.json()
        assert body["code"] == "SCOPE_NOT_GRANTED" and body["retryable"] is False
        assert body["message"] == "Operator key 'lobby' may not use the cashier endpoints; its scopes: lobby."
        assert body["details"] == {"required_scope": "cashier", "key_scopes": ["lobby"]}
        assert Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR").balance == balance
        assert call(client, "GET", "p_demo_1", headers=lobby).json()["code"] == "SCOPE_NOT_GRANTED"
        assert call(client, "GET", "p_demo_1/transactions?currency=EUR", headers=lobby).status_code == 403

    def test_a_cashier_key_moves_money_and_launches_nothing(self, client, sandbox):
        cashier = key_with("cashier")
        body = {"currency": "EUR", "amount": 500, "reference": "psp-scoped"}
        assert call(client, "POST", "p_demo_1/deposits", body, headers=cashier).status_code == 200
        assert call(client, "GET", "p_demo_1/withdrawals", headers=cashier).status_code == 200
        assert client.get("/api/v1/withdrawal-events", headers=cashier).status_code == 200
        launched = client.post(
            "/api/v1/sessions",
            {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers=cashier,
        )
        assert (launched.status_code, launched.json()["code"]) == (403, "SCOPE_NOT_GRANTED")
        assert call(client, "POST", "p_demo_1/close", {"reason": "x"}, headers=cashier).status_code == 403

    def test_a_players_key_reads_and_sets_limits(self, client, sandbox):
        players = key_with("players")
        assert call(client, "GET", "p_demo_1", headers=players).status_code == 200
        assert call(client, "GET", "p_demo_1/statement?currency=EUR", headers=players).status_code == 200
        assert call(client, "GET", "p_demo_1/rounds", headers=players).status_code == 200
        assert call(client, "GET", "p_demo_1/responsible-gambling", headers=players).status_code == 200
        assert call(client, "POST", "p_demo_1/sessions/close", headers=players).status_code == 403
        assert call(client, "GET", "p_demo_1/withdrawals", headers=players).status_code == 403

    def test_a_players_key_records_a_country_but_moves_no_one(self, client, sandbox):
        """The country decides which games a player may launch: the front end's key records it
        at sign-up; moving a player to another needs the kyc scope, as verifying them does."""
        front = key_with("lobby", "players")
        r = call(client, "PUT", "p_new", {"display_name": "New", "country": "MT"}, headers=front)
        assert r.status_code == 201, r.content
        assert call(client, "PUT", "p_new", {"country": "MT", "display_name": "N."}, headers=front).status_code == 200
        r = call(client, "PUT", "p_new", {"country": "GB"}, headers=front)
        assert (r.status_code, r.json()["code"]) == (403, "SCOPE_NOT_GRANTED")
        assert "change a player's recorded country" in r.json()["message"]
        assert Player.objects.get(player_id="p_new").country == "MT"
        Player.objects.filter(player_id="p_new").update(country="")
        assert call(client, "PUT", "p_new", {"country": "GB"}, headers=front).status_code == 200  # none recorded
        back = key_with("players", "kyc")
        assert call(client, "PUT", "p_new", {"country": "DE"}, headers=back).json()["country"] == "DE"

    def test_no_key_is_still_401_and_a_key_of_every_scope_calls_everything(self, client, sandbox):
        assert call(client, "POST", "p_demo_1/deposits", {}, headers={}).status_code == 401
        every = key_with("lobby", "players", "cashier")
        assert call(client, "GET", "p_demo_1", headers=every).status_code == 200
        assert call(client, "GET", "p_demo_1/withdrawals", headers=every).status_code == 200
        assert call(client, "GET", "p_demo_1/sessions", headers=every).status_code == 200

    def test_a_view_that_names_no_scope_is_refused_to_every_key(self, sandbox):
        from rest_framework.response import Response

        class Unscoped(OperatorApiView):
            def get(self, request):
                return Response({"ok": True})

        every = key_with("lobby", "players", "cashier")
        request = APIRequestFactory().get("/x", HTTP_AUTHORIZATION=every["Authorization"])
        r = Unscoped.as_view()(request)
        assert r.status_code == 403 and r.data["code"] == "SCOPE_NOT_GRANTED"

    def test_the_seeded_sandbox_key_holds_every_scope(self, sandbox):
        assert OperatorApiKey.objects.get(name="sandbox").scopes == ["lobby", "players", "cashier", "kyc"]
        # Narrowed by staff, it is whole again when the sandbox is seeded again.
        OperatorApiKey.objects.filter(name="sandbox").update(scopes=["lobby"])
        call_command("seed_sandbox", stdout=io.StringIO())
        assert OperatorApiKey.objects.get(name="sandbox").scopes == ["lobby", "players", "cashier", "kyc"]

    def test_kyc_status_needs_the_kyc_scope(self, client, sandbox):
        players = key_with("players")
        body = {"kyc_status": "verified", "kyc_reference": "idv-1", "reason": "documents checked"}
        r = call(client, "PUT", "p_kyc_pending", body, headers=players)
        assert (r.status_code, r.json()["code"]) == (403, "SCOPE_NOT_GRANTED")
        assert r.json()["message"] == ("Operator key 'players' may not set a player's KYC status; its scopes: players.")
        assert (
            call(client, "PUT", "p_kyc_pending", {"kyc_reference": "idv-2", "reason": "x"}, headers=players).status_code
            == 403
        )
        assert Player.objects.get(player_id="p_kyc_pending").kyc_status == "pending"
        # The rest of the player stays the players scope's.
        assert (
            call(client, "PUT", "p_kyc_pending", {"display_name": "K. P.", "reason": "x"}, headers=players).status_code
            == 200
        )
        both = key_with("players", "kyc")
        assert call(client, "PUT", "p_kyc_pending", body, headers=both).status_code == 200
        assert Player.objects.get(player_id="p_kyc_pending").kyc_status == "verified"

    @pytest.mark.parametrize("stored", ["cashier", {"cashier": True}, 7, None, [["cashier"]], ["CASHIER"]])
    def test_a_stored_value_that_is_no_list_of_scopes_grants_nothing(self, client, sandbox, stored):
        headers = key_with("cashier")
        OperatorApiKey.objects.filter(name="cashier").update(scopes=Value(stored, JSONField()))
        r = call(client, "GET", "p_demo_1/withdrawals", headers=headers)
        assert (r.status_code, r.json()["code"]) == (403, "SCOPE_NOT_GRANTED")
        assert r.json()["details"]["key_scopes"] == []


class TestCommand:
    def test_scopes_given(self, sandbox):
        out = io.StringIO()
        call_command("create_operator_key", "front-end", "--scope", "lobby", "--scope", "players", stdout=out)
        lines = out.getvalue().splitlines()
        assert (
            lines[0]
            == "Operator key front-end created with scopes lobby, players (store it now; it is not shown again):"
        )
        assert len(lines) == 2
        key = OperatorApiKey.objects.get(name="front-end")
        assert key.scopes == ["lobby", "players"]
        trail = SettingChange.objects.get(object_key="front-end", field="scopes")
        assert (trail.new_value, trail.changed_by) == ('["lobby", "players"]', "manage.py")

    def test_scopes_must_be_said(self, sandbox):
        with pytest.raises(CommandError, match="one of the arguments --scope --all-scopes is required"):
            call_command("create_operator_key", "back-office", stdout=io.StringIO())
        call_command("create_operator_key", "back-office", "--all-scopes", stdout=io.StringIO())
        assert OperatorApiKey.objects.get(name="back-office").scopes == ["lobby", "players", "cashier", "kyc"]
        # Given in any order, kept in one.
        call_command("create_operator_key", "b", "--scope", "cashier", "--scope", "lobby", stdout=io.StringIO())
        assert OperatorApiKey.objects.get(name="b").scopes == ["lobby", "cashier"]

    def test_an_unknown_scope_is_refused(self, sandbox):
        with pytest.raises(CommandError, match="invalid choice: 'admin'"):
            call_command("create_operator_key", "x", "--scope", "admin", stdout=io.StringIO())
        assert not OperatorApiKey.objects.filter(name="x").exists()


class TestAdmin:
    def test_staff_narrow_a_key_and_it_is_on_record(self, admin_client, client, sandbox):
        key = OperatorApiKey.objects.get(name="sandbox")
        url = reverse("admin:game_sessions_operatorapikey_change", args=[key.pk])
        page = admin_client.get(url).content.decode()
        assert 'type="checkbox" name="scopes" value="cashier"' in page
        r = admin_client.post(
            url, {"name": "sandbox", "is_active": "on", "scopes": ["lobby"], "rate_limit_per_second": "0"}, follow=True
        )
        assert r.status_code == 200
        key.refresh_from_db()
        assert key.scopes == ["lobby"]
        change = SettingChange.objects.filter(object_key="sandbox", field="scopes").latest("id")
        assert (change.old_value, change.new_value, change.changed_by) == (
            '["lobby", "players", "cashier", "kyc"]',
            '["lobby"]',
            "admin",
        )
        token = {"Authorization": "Token sandbox-operator-token"}
        assert call(client, "GET", "p_demo_1", headers=token).json()["code"] == "SCOPE_NOT_GRANTED"

    @pytest.mark.parametrize("scopes", [[], ["admin"], ["lobby", "lobby"]])
    def test_no_scope_or_an_unknown_one_is_refused(self, admin_client, sandbox, scopes):
        key = OperatorApiKey.objects.get(name="sandbox")
        url = reverse("admin:game_sessions_operatorapikey_change", args=[key.pk])
        r = admin_client.post(
            url, {"name": "sandbox", "is_active": "on", "scopes": scopes, "rate_limit_per_second": "0"}
        )
        if scopes == ["lobby", "lobby"]:  # a checkbox ticked twice is one scope
            key.refresh_from_db()
            assert r.status_code == 302 and key.scopes == ["lobby"]
            return
        assert r.status_code == 200 and r.context["adminform"].form.errors["scopes"]
        key.refresh_from_db()
        assert key.scopes == ["lobby", "players", "cashier", "kyc"]

    def test_the_list_shows_what_each_key_holds(self, admin_client, sandbox):
        key_with("lobby", "players")
        page = admin_client.get(reverse("admin:game_sessions_operatorapikey_changelist")).content.decode()
        assert '<td class="field-scopes_held">lobby, players</td>' in page


def test_every_operator_operation_in_the_schema_names_the_refusal(client):
    schema = client.get("/api/schema/?format=json").json()
    operator_ops = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if any("OperatorToken" in s for s in op.get("security", []))
    ]
    assert len(operator_ops) >= 20

    def refusals(op, status) -> list[str]:
        examples = op["responses"].get(status, {}).get("content", {}).get("application/json", {}).get("examples", {})
        return [example["value"]["code"] for example in examples.values()]

    missing = [
        f"{method} {path}"
        for path, method, op in operator_ops
        if "SCOPE_NOT_GRANTED" not in refusals(op, "403") or "RATE_LIMITED" not in refusals(op, "429")
    ]
    assert missing == []


@pytest.mark.django_db(transaction=True)
def test_keys_made_before_keep_what_they_could_call():
    """Through the migrations: a key made before scopes holds all four; a key given scopes
    before `kyc` existed gets `kyc` where it held `players` (which could set KYC), not else."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(target):
        executor = MigrationExecutor(connection)
        executor.migrate(target)
        return executor.loader.project_state(target).apps

    old = migrate([("game_sessions", "0009_session_game_live")])
    old.get_model("game_sessions", "OperatorApiKey").objects.create(name="old", key_hash="a" * 64, prefix="a")
    scoped = migrate([("game_sessions", "0010_operator_key_scopes")]).get_model("game_sessions", "OperatorApiKey")
    scoped.objects.create(name="front", key_hash="b" * 64, prefix="b", scopes=["lobby"])
    scoped.objects.create(name="back", key_hash="c" * 64, prefix="c", scopes=["players", "cashier"])
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert dict(OperatorApiKey.objects.values_list("name", "scopes")) == {
        "old": ["lobby", "players", "cashier", "kyc"],
        "front": ["lobby"],
        "back": ["players", "cashier", "kyc"],
    }


class TestRateLimitAndLastUse:
    def test_a_key_over_its_rate_is_refused_and_others_are_not(self, client, sandbox, monkeypatch):
        from django.core.cache import cache

        import casino_platform.ratelimit

        _, key = operator_api_key_create(name="busy", scopes=["lobby"], rate_limit_per_second=3)
        busy = {"Authorization": f"Token {key}"}
        cache.clear()
        monkeypatch.setattr(casino_platform.ratelimit, "_this_second", lambda: 1_900_000_000)  # one window
        answers = [client.get("/api/v1/games", headers=busy) for _ in range(8)]
        assert [r.status_code for r in answers] == [200] * 3 + [429] * 5
        limited = answers[3:]
        body = limited[0].json()
        assert (body["code"], body["retryable"]) == ("RATE_LIMITED", True)
        assert body["message"] == "Over 3 calls per second for operator key 'busy'."
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert client.get("/api/v1/games", headers={"Authorization": "Token sandbox-operator-token"}).status_code == 200
        # Calls outside its scope count too: refused for their scope, then for their rate.
        cache.clear()
        outside = [call(client, "GET", "p_demo_1/withdrawals", headers=busy).status_code for _ in range(5)]
        assert outside == [403] * 3 + [429] * 2

    def test_without_the_cache_a_limited_key_is_let_through(self, client, sandbox, monkeypatch, settings):
        from casino_platform import ratelimit

        _, key = operator_api_key_create(name="busy", scopes=["lobby"], rate_limit_per_second=1)
        # A real Redis client on a port nothing listens on: every cache call fails.
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
        }
        monkeypatch.setattr(ratelimit, "_cache_down_until", 0.0)
        answers = [client.get("/api/v1/games", headers={"Authorization": f"Token {key}"}) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert ratelimit._cache_down_until > 0  # let through because the cache was found down

    def test_the_last_use_is_stamped_once_a_minute(self, client, sandbox):
        from datetime import timedelta

        from casino_platform import clock

        headers = key_with("lobby")
        key = OperatorApiKey.objects.get(name="lobby")
        assert key.last_used_at is None
        client.get("/api/v1/games", headers=headers)
        key.refresh_from_db()
        first = key.last_used_at
        assert first is not None and clock.now() - first < timedelta(seconds=30)
        half_a_minute_ago = clock.now() - timedelta(seconds=30)
        OperatorApiKey.objects.filter(pk=key.pk).update(last_used_at=half_a_minute_ago)
        client.get("/api/v1/games", headers=headers)
        key.refresh_from_db()
        assert key.last_used_at == half_a_minute_ago  # not written again within the minute
        OperatorApiKey.objects.filter(pk=key.pk).update(last_used_at=clock.now() - timedelta(minutes=2))
        r = call(client, "POST", "p_demo_1/deposits", {}, headers=headers)  # refused: still a use
        assert r.status_code == 403
        key.refresh_from_db()
        assert clock.now() - key.last_used_at < timedelta(seconds=30)

    def test_command_and_admin(self, admin_client, sandbox):
        out = io.StringIO()
        call_command("create_operator_key", "psp", "--scope", "cashier", "--rate-limit", "50", stdout=out)
        assert "at most 50 calls a second" in out.getvalue().splitlines()[0]
        key = OperatorApiKey.objects.get(name="psp")
        assert key.rate_limit_per_second == 50
        with pytest.raises(CommandError, match="0 \\(none\\) or more"):
            call_command("create_operator_key", "bad", "--scope", "cashier", "--rate-limit", "-1", stdout=io.StringIO())
        url = reverse("admin:game_sessions_operatorapikey_change", args=[key.pk])
        form = {"name": "psp", "is_active": "on", "scopes": ["cashier"], "rate_limit_per_second": "20"}
        assert admin_client.post(url, form).status_code == 302
        change = SettingChange.objects.filter(object_key="psp", field="rate_limit_per_second").latest("id")
        assert (change.old_value, change.new_value, change.changed_by) == ("50", "20", "admin")
        page = admin_client.get(reverse("admin:game_sessions_operatorapikey_changelist")).content.decode()
        assert "field-last_used_at" in page
