"""Operator API keys hold scopes: lobby (the catalogue, game sessions), players (registration,
limits, history) and cashier (deposits, withdrawals): a key kept in the casino's front end
need not be able to move money."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIRequestFactory

from ledger.models import SettingChange
from sessions.api.views import OperatorApiView
from sessions.models import OperatorApiKey
from sessions.services import operator_api_key_create
from wallet.models import Wallet
from wallet.tests.test_cashier import call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def key_with(*scopes: str) -> dict[str, str]:
    _, key = operator_api_key_create(name="-".join(scopes) or "none", scopes=list(scopes))
    return {"Authorization": f"Token {key}"}


def operator_views() -> list[tuple[str, type]]:
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class is not None and issubclass(view_class, OperatorApiView):
                    found.append((prefix + str(pattern.pattern), view_class))

    walk(get_resolver().url_patterns)
    return found


def test_every_operator_endpoint_belongs_to_a_scope():
    views = operator_views()
    assert len(views) >= 20
    unscoped = [
        path for path, view in views if getattr(view, "operator_scope", None) not in OperatorApiKey.Scope.values
    ]
    assert unscoped == []


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
        assert OperatorApiKey.objects.get(name="sandbox").scopes == ["lobby", "players", "cashier"]


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

    def test_without_scopes_every_one_and_a_word_on_it(self, sandbox):
        out = io.StringIO()
        call_command("create_operator_key", "back-office", stdout=out)
        assert OperatorApiKey.objects.get(name="back-office").scopes == ["lobby", "players", "cashier"]
        assert "money movements included" in out.getvalue()

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
        r = admin_client.post(url, {"name": "sandbox", "is_active": "on", "scopes": ["lobby"]}, follow=True)
        assert r.status_code == 200
        key.refresh_from_db()
        assert key.scopes == ["lobby"]
        change = SettingChange.objects.filter(object_key="sandbox", field="scopes").latest("id")
        assert (change.old_value, change.new_value, change.changed_by) == (
            '["lobby", "players", "cashier"]',
            '["lobby"]',
            "admin",
        )
        token = {"Authorization": "Token sandbox-operator-token"}
        assert call(client, "GET", "p_demo_1", headers=token).json()["code"] == "SCOPE_NOT_GRANTED"

    def test_a_key_with_no_scope_is_refused(self, admin_client, sandbox):
        key = OperatorApiKey.objects.get(name="sandbox")
        url = reverse("admin:game_sessions_operatorapikey_change", args=[key.pk])
        r = admin_client.post(url, {"name": "sandbox", "is_active": "on"})
        assert r.status_code == 200 and r.context["adminform"].form.errors["scopes"]
        key.refresh_from_db()
        assert key.scopes == ["lobby", "players", "cashier"]


def test_every_operator_operation_in_the_schema_names_the_refusal(client):
    schema = client.get("/api/schema/?format=json").json()
    operator_ops = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if any("OperatorToken" in s for s in op.get("security", []))
    ]
    assert len(operator_ops) >= 20

    def refusals(op) -> list[str]:
        examples = op["responses"].get("403", {}).get("content", {}).get("application/json", {}).get("examples", {})
        return [example["value"]["code"] for example in examples.values()]

    missing = [f"{method} {path}" for path, method, op in operator_ops if "SCOPE_NOT_GRANTED" not in refusals(op)]
    assert missing == []
