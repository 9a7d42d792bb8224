"""The sessions' operator endpoints read what the caller sent as it was sent: a filter given
empty is refused rather than read as left out (which widened the answer without a word), and
a launch is JSON like every other operator body (found by fuzzing the schema)."""

import pytest
from django.core.management import call_command

from sessions.models import GameSession
from wallet.tests.test_cashier import TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))


@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/api/v1/players/p_demo_1/rounds", "status"),
        ("/api/v1/players/p_demo_1/rounds", "since"),
        ("/api/v1/players/p_demo_1/rounds", "until"),
        ("/api/v1/players/p_demo_1/sessions", "state"),
    ],
)
def test_a_filter_given_empty_is_a_validation_error(client, sandbox, path, parameter):
    r = client.get(path, {parameter: ""}, headers=TOKEN)
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
    assert parameter in r.json()["details"]
    assert client.get(path, headers=TOKEN).status_code == 200


def test_a_launch_is_json_only(client, sandbox):
    launch = {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"}
    r = client.post("/api/v1/sessions", launch, headers=TOKEN)  # multipart, Django's default
    # The operator API's answer to a body it cannot read (casino_platform.api).
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
    assert "Unsupported media type" in r.json()["message"]
    assert not GameSession.objects.exists()
    assert client.post("/api/v1/sessions", launch, content_type="application/json", headers=TOKEN).status_code == 201
