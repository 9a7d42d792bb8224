"""The operator commands: platform switches and operator API keys."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from sessions.models import GameSession, OperatorApiKey, PlatformSwitch
from sessions.services import platform_switch_is_on

pytestmark = pytest.mark.django_db

SWITCHES = ["maintenance", "no_new_sessions"]
LAUNCH = {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR", "locale": "en"}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def printed_key(output: str) -> str:
    return output.strip().splitlines()[-1].strip()


def new_key(name: str) -> str:
    return printed_key(run("create_operator_key", name, "--all-scopes"))


def launch(client, token: str):
    return client.post(
        "/api/v1/sessions", LAUNCH, content_type="application/json", headers={"Authorization": f"Token {token}"}
    )


@pytest.fixture
def sandbox(db):
    run("seed_sandbox")


class TestPlatformSwitch:
    @pytest.mark.parametrize("name", SWITCHES)
    def test_status_is_off_when_never_set(self, name):
        assert run("platform_switch", name, "status").strip() == f"{name} is off"
        assert not platform_switch_is_on(name)

    @pytest.mark.parametrize("name", SWITCHES)
    def test_on_then_off(self, name):
        assert f"{name} is now on" in run("platform_switch", name, "on", "--reason", "db upgrade")
        assert platform_switch_is_on(name)
        switch = PlatformSwitch.objects.get(name=name)
        assert switch.is_on and switch.reason == "db upgrade" and switch.changed_by == "manage.py"
        assert run("platform_switch", name, "status").strip() == f"{name} is on"

        assert f"{name} is now off" in run("platform_switch", name, "off")
        assert not platform_switch_is_on(name)
        assert run("platform_switch", name, "status").strip() == f"{name} is off"
        assert PlatformSwitch.objects.filter(name=name).count() == 1

    def test_switches_are_independent(self):
        run("platform_switch", "maintenance", "on")
        assert platform_switch_is_on("maintenance")
        assert not platform_switch_is_on("no_new_sessions")
        assert run("platform_switch", "no_new_sessions", "status").strip() == "no_new_sessions is off"

    def test_status_changes_nothing(self):
        run("platform_switch", "maintenance", "status")
        assert not PlatformSwitch.objects.exists()

    @pytest.mark.parametrize("args", [("nonsense", "on"), ("maintenance", "maybe")])
    def test_unknown_switch_or_state_is_a_command_error(self, args):
        with pytest.raises(CommandError):
            run("platform_switch", *args)
        assert not PlatformSwitch.objects.exists()

    @pytest.mark.parametrize("name", SWITCHES)
    def test_switch_refuses_launches_until_turned_off(self, client, sandbox, name):
        run("platform_switch", name, "on")
        r = launch(client, "sandbox-operator-token")
        assert r.status_code == 503 and r.json()["code"] == "MAINTENANCE"
        run("platform_switch", name, "off")
        assert launch(client, "sandbox-operator-token").status_code == 201


class TestCreateOperatorKey:
    def test_prints_a_key_and_stores_only_its_hash(self):
        output = run("create_operator_key", "lobby", "--scope", "lobby")
        assert "not shown again" in output
        key = printed_key(output)
        assert output.count(key) == 1
        assert len(key) >= 32
        api_key = OperatorApiKey.objects.get(name="lobby")
        assert api_key.is_active
        assert api_key.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert api_key.prefix == key[:6]
        row = OperatorApiKey.objects.filter(name="lobby").values().get()
        assert all(key not in str(value) for value in row.values())

    def test_key_authenticates_the_operator_api(self, client, sandbox):
        key = new_key("lobby")
        r = launch(client, key)
        assert r.status_code == 201, r.content
        assert GameSession.objects.filter(pk=r.json()["session_id"], player__player_id="p_demo_1").exists()

    def test_a_wrong_or_deactivated_key_does_not(self, client, sandbox):
        key = new_key("lobby")
        assert launch(client, key + "x").status_code == 401
        OperatorApiKey.objects.filter(name="lobby").update(is_active=False)
        assert launch(client, key).status_code == 401
        assert not GameSession.objects.exists()

    def test_duplicate_name_is_a_command_error(self):
        first = new_key("lobby")
        with pytest.raises(CommandError, match="lobby"):
            run("create_operator_key", "lobby", "--scope", "lobby")
        assert OperatorApiKey.objects.filter(name="lobby").count() == 1
        assert OperatorApiKey.objects.get(name="lobby").key_hash == hashlib.sha256(first.encode()).hexdigest()

    @pytest.mark.parametrize(
        ("args", "message"),
        [(["k" * 65, "--all-scopes"], "name"), (["big", "--all-scopes", "--rate-limit", "3000000000"], "rate_limit")],
    )
    def test_what_the_columns_cannot_hold_is_a_command_error(self, args, message):
        with pytest.raises(CommandError, match=message):
            run("create_operator_key", *args)
        assert not OperatorApiKey.objects.exclude(name="sandbox").exists()

    def test_each_key_is_new(self):
        a = new_key("a")
        b = new_key("b")
        assert a != b
