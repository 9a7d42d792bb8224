"""A provider's side of the contract, for tests: sign, send, verify the response signature."""

import time
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from provider.signing import sign_request, sign_response


@dataclass
class Signed:
    status: int
    body: dict
    headers: Mapping[str, str]  # case-insensitive, as the response's own


class ProviderClient:
    """Wraps Django's test client, or `requests` against a live server (base_url set)."""

    def __init__(self, client=None, *, provider="sandbox", secret="sandbox-secret", base_url=None, session=None):
        self.client, self.provider, self.secret = client, provider, secret
        self.base_url, self.session = base_url, session

    def post(
        self,
        endpoint: str,
        payload=None,
        *,
        raw: bytes | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        sign_path: str | None = None,
        headers: dict | None = None,
    ) -> Signed:
        path = f"/api/v1/wallet/{endpoint}"
        body = raw if raw is not None else orjson.dumps(payload)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = sign_request(
            secret=secret or self.secret, timestamp=ts, method="POST", path=sign_path or path, body=body
        )
        all_headers = {
            "X-Provider-Id": self.provider,
            "X-Timestamp": ts,
            "X-Signature": signature,
            "Content-Type": "application/json",
            **(headers or {}),
        }
        if self.base_url:
            r = self.session.post(self.base_url + path, data=body, headers=all_headers, timeout=30)
            # Field names are case-insensitive (RFC 9110); granian sends them in lower case.
            status, content, response_headers = r.status_code, r.content, r.headers
        else:
            r = self.client.generic(
                "POST",
                path,
                data=body,
                content_type=all_headers["Content-Type"],
                headers={k: v for k, v in all_headers.items() if k != "Content-Type"},
            )
            status, content, response_headers = r.status_code, r.content, r.headers
        if "X-Signature" in response_headers:
            expected = sign_response(
                secret=secret or self.secret, timestamp=response_headers["X-Timestamp"], status=status, body=content
            )
            assert response_headers["X-Signature"] == expected, "response signature does not verify"
        return Signed(status, orjson.loads(content) if content else {}, response_headers)


def launch(player_id: str, game_id: str = "sandbox:dice") -> str:
    """A live game session for a seeded player; its token."""
    from players.models import Player
    from provider.models import Game
    from sessions.services import session_create

    game = Game.objects.get(game_id=game_id)
    _, token = session_create(
        provider=game.provider, player=Player.objects.get(player_id=player_id), game=game, currency="EUR"
    )
    return token


def debit_payload(token: str, tx: str, amount: int = 100) -> dict:
    """A bet of `amount` EUR cents in its own round, under `token`."""
    return {
        "transaction_id": tx,
        "session_token": token,
        "round_id": f"r-{tx}",
        "game_id": "sandbox:dice",
        "amount": amount,
        "currency": "EUR",
        "reason": "bet",
    }
