"""The operator API's strict fields, as a caller meets them over HTTP."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

TOKEN = {"Authorization": "Token sandbox-operator-token"}


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


@pytest.mark.parametrize("query", ["player_id=", "country="])
def test_an_id_given_empty_in_the_query_is_refused_not_left_out(client, sandbox, query):
    """Found by schemathesis (negative_data_rejection): `/games?player_id=` listed the whole
    catalogue, games the player's country is not offered too, as if no player were named."""
    r = client.get(f"/api/v1/games?{query}", headers=TOKEN)
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert r.json()["details"] == {query[:-1]: ["This field may not be blank."]}


def test_a_removal_with_an_empty_reason_is_refused_as_in_a_body(client, sandbox):
    """`?reason=` on a DELETE was the default reason; `{"reason": ""}` in a body never was."""
    r = client.delete("/api/v1/players/p_demo_1/session-time-limit?reason=", headers=TOKEN)
    assert r.status_code == 400 and r.json()["details"] == {"reason": ["This field may not be blank."]}
