"""Schemathesis hooks for fuzzing the platform's HTTP APIs from their own OpenAPI schema, loaded
by `bin/fuzz-api` (SCHEMATHESIS_HOOKS) and by casino_platform/tests/test_api_schema_fuzz.py.

- Wallet callbacks are signed as a provider signs them (contract section 1): over the exact
  bytes sent, so the fuzzer reaches the validation and the rules behind the signature check.
- Ids in paths and bodies are now and then swapped for ones that exist (a seeded player, a live
  session's token, an enabled currency), so that calls go past PLAYER_NOT_FOUND. Only values
  the schema already allows are swapped: a negative case stays as invalid as it was drawn.
"""

import json
import os
import time
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.core import NOT_SET

from provider.signing import sign_request

WALLET_PREFIX = "/api/v1/wallet/"
PROVIDER = os.environ.get("FUZZ_PROVIDER", "sandbox")
SECRET = os.environ.get("SANDBOX_PROVIDER_SECRET", "sandbox-secret")

# What exists in a seeded sandbox, by the name of the parameter or field that takes it.
# `session_token` is filled in by whoever launched the sessions (FUZZ_SESSION_TOKENS, or a test).
KNOWN: dict[str, list[str]] = {
    "player_id": ["p_demo_1", "p_demo_2", "p_low_balance", "p_kyc_pending", "p_blocked_rg"],
    "currency": ["EUR", "USD"],
    "game_id": ["sandbox:dice", "sandbox:slot"],
    "provider": ["sandbox"],
    "session_token": [t for t in os.environ.get("FUZZ_SESSION_TOKENS", "").split(",") if t],
}


def _allowed_anyway(name: str, value: Any) -> bool:
    """Whether the schema allows `value` for `name` as it allows the known ones: a string, not
    empty, without whitespace around it, no longer than an id, and a currency of three letters.
    A value drawn to break the schema fails this and is sent as drawn."""
    if not isinstance(value, str) or not value or value != value.strip() or len(value) > 64:
        return False
    return name != "currency" or (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper())


def _as_drawn_or_known(name: str, value: Any) -> st.SearchStrategy:
    known = KNOWN.get(name)
    if not known or not _allowed_anyway(name, value):
        return st.just(value)
    return st.one_of(st.just(value), st.sampled_from(known))


def _swapped(values: Any) -> st.SearchStrategy:
    if not isinstance(values, dict) or not values:
        return st.just(values)
    return st.fixed_dictionaries({name: _as_drawn_or_known(name, value) for name, value in values.items()})


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy:
    return _swapped(path_parameters)


@schemathesis.hook
def flatmap_query(context: Any, query: dict[str, Any]) -> st.SearchStrategy:
    return _swapped(query)


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    return _swapped(body)


def signed_headers(*, method: str, path: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = sign_request(secret=SECRET, timestamp=timestamp, method=method, path=path, body=body)
    return {"X-Provider-Id": PROVIDER, "X-Timestamp": timestamp, "X-Signature": signature}


def wallet_call_signed(case: Any, kwargs: dict[str, Any]) -> None:
    """Sign a wallet call over the bytes it will send, which are then sent as they are."""
    if not case.path.startswith(WALLET_PREFIX):
        return
    if case.body is NOT_SET:
        raw = b""
    else:
        try:
            raw = json.dumps(case.body).encode()
        except (TypeError, ValueError):  # a body no JSON holds (bytes): sent unsigned, as drawn
            return
        kwargs["data"] = raw  # sent as signed, not serialized again
    drawn = case.headers or {}
    # Only the headers the case carries: one drawn without X-Signature (say) is sent without it.
    headers = {k: v for k, v in signed_headers(method=case.method, path=case.path, body=raw).items() if k in drawn}
    if raw:
        headers["Content-Type"] = "application/json"
    case.headers = {**drawn, **headers}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    wallet_call_signed(case, kwargs)
