"""The sandbox page's API refuses what it cannot play in the contract's error shape, never a
500 and never an empty body: a method other than POST, and a partner's `authenticate` answer
naming no player or currency we can record."""

import pytest
from django.conf import settings

from provider.models import GameRound, PartnerCasino, PartnerPlayer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/sandbox/api/session", "/sandbox/api/bet"])
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_a_method_other_than_post_is_refused_in_the_contract_s_shape(client, path, method):
    r = getattr(client, method)(path)
    assert r.status_code == 405 and r["Allow"] == "POST"
    body = r.json()
    assert body["code"] == "METHOD_NOT_ALLOWED" and body["retryable"] is False and body["trace_id"]


@pytest.fixture
def fake_sandbox_partner(settings, partner_casino, fake_partner):
    """The sandbox page playing against the fake partner casino instead of this platform."""
    settings.SANDBOX_PARTNER = partner_casino.name
    return fake_partner


@pytest.mark.parametrize(
    "field, value",
    [
        ("player_id", "p" * 65),  # past the contract's 64 (and our record's)
        ("player_id", ""),
        ("player_id", 7),
        ("player_id", "p\x00"),
        ("currency", "EURO"),
        ("currency", None),
    ],
)
@pytest.mark.parametrize("path", ["/sandbox/api/session", "/sandbox/api/bet"])
def test_an_authenticate_answer_naming_no_player_or_currency_is_the_partner_s_error(
    client, fake_sandbox_partner, monkeypatch, field, value, path
):
    original = fake_sandbox_partner._answer

    def answer(endpoint, data):
        status, body = original(endpoint, data)
        return (status, {**body, field: value}) if endpoint == "authenticate" else (status, body)

    monkeypatch.setattr(fake_sandbox_partner, "_answer", answer)
    client.raise_request_exception = False
    r = client.post(path, {"token": f"t-{field}-{value!r}", "game": "dice", "stake": 100}, "application/json")
    assert r.status_code == 502, r.content
    assert r.json()["code"] == "PARTNER_ERROR" and {"message", "retryable", "trace_id"} <= r.json().keys()
    assert not GameRound.objects.exists() and not PartnerPlayer.objects.exists()
    assert fake_sandbox_partner.balances == {"p1": 100_000}


def test_a_display_name_we_cannot_store_is_stored_as_we_can(client, fake_sandbox_partner, monkeypatch):
    original = fake_sandbox_partner._answer

    def answer(endpoint, data):
        status, body = original(endpoint, data)
        return (status, {**body, "display_name": "N\x00" + "x" * 200}) if endpoint == "authenticate" else (status, body)

    monkeypatch.setattr(fake_sandbox_partner, "_answer", answer)
    r = client.post("/sandbox/api/bet", {"token": "t-name", "game": "dice", "stake": 100}, "application/json")
    assert r.status_code == 200, r.content
    assert PartnerPlayer.objects.get(partner_player_id="p1").display_name == "N" + "x" * 119
    assert GameRound.objects.get().status == "settled"


@pytest.mark.parametrize("path", ["/sandbox/api/session", "/sandbox/api/bet"])
def test_a_partner_secret_that_cannot_be_read_is_the_partner_unavailable(client, fake_sandbox_partner, path):
    """Encrypted under another PROVIDER_SECRET_KEY: a 503 that says what to do, not a 500."""
    PartnerCasino.objects.filter(name=settings.SANDBOX_PARTNER).update(secret_encrypted="not-a-fernet-token")
    r = client.post(path, {"token": "t", "game": "dice", "stake": 100}, "application/json")
    assert r.status_code == 503, r.content
    assert r.json()["code"] == "PARTNER_UNAVAILABLE" and "seed_sandbox" in r.json()["message"]
    assert not GameRound.objects.exists()
    assert fake_sandbox_partner.balances == {"p1": 100_000} and not fake_sandbox_partner.received
