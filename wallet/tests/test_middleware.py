"""Wallet callbacks skip the browser middleware; every other path keeps it."""

import orjson
import pytest
from django.core.management import call_command

from wallet.tests.api_client import ProviderClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    return ProviderClient(client)


def test_a_wallet_callback_goes_straight_to_its_view(api, client):
    r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"})
    assert r.status == 200
    assert r.headers.get("X-Trace-Id")  # tracing ran: it sits before the shortcut
    assert "X-Frame-Options" not in r.headers  # the browser middleware did not
    assert "Vary" not in r.headers  # nor did sessions
    # CommonMiddleware would have set it; the view does, so the answer is never chunked.
    assert int(r.headers["Content-Length"]) == len(orjson.dumps(r.body))


def test_other_paths_take_the_whole_stack(client):
    r = client.get("/health")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers.get("X-Trace-Id")


def test_an_unknown_wallet_path_is_the_contracts_404(client, settings):
    settings.DEBUG = False
    r = client.post("/api/v1/wallet/nope", data=b"{}", content_type="application/json")
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
