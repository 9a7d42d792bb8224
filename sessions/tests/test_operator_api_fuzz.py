"""Every operator endpoint, every method, given whatever a caller might send: odd path
parameters (NUL, very long, another script, a number past any column), odd query values and
odd JSON bodies. Each answer is the contract's error shape and below 500: a bad input gets a
clear error, never a server error."""

import io
import json
import uuid
from urllib.parse import quote, urlencode

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from players.models import Player
from sessions.tests.operator_api import METHODS, operator_views, route_parameters

pytestmark = pytest.mark.django_db

TOKEN = {"Authorization": "Token sandbox-operator-token"}

odd_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from(["\x00", "p_demo_1\x00", "EUR", "eur", "day", "week", "2026-12-06T00:00:00Z", "-1", "0", "1e9"]),
    st.sampled_from(["9" * 30, "2026-02-30", "open", "closed", " ", "%00", "../x", "null", "[]", "{}"]),
)
path_value = st.one_of(odd_text.filter(lambda s: s != ""), st.sampled_from(["p_demo_1", "sandbox", "EUR", "day"]))
int_value = st.one_of(st.integers(min_value=0, max_value=2**80), st.sampled_from([0, 1, 2**31, 2**63, 2**64]))
QUERY_NAMES = [
    "currency", "status", "state", "since", "until", "limit", "cursor", "after",
    "player_id", "country", "period", "reference",
]  # fmt: skip
BODY_NAMES = [
    "currency", "amount", "reference", "reason", "review", "player_id", "game_id", "locale", "display_name",
    "country", "kyc_status", "kyc_reference", "until", "minutes", "remove", "seen", "lift_early",
]  # fmt: skip
json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        odd_text,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)
body = st.one_of(
    st.dictionaries(st.sampled_from(BODY_NAMES), json_value, max_size=6),
    json_value,
)

ENDPOINTS = sorted(
    (name, method) for name, (_, view) in operator_views().items() for method in METHODS if hasattr(view, method)
)


@pytest.mark.parametrize(("name", "method"), ENDPOINTS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_input_is_a_server_error(client, name, method, data):
    if not Player.objects.exists():  # once per endpoint: the examples share its transaction
        call_command("seed_sandbox", stdout=io.StringIO())
    route, _ = operator_views()[name]
    path = "/" + route
    for converter, param in route_parameters(route):
        value = str(data.draw(int_value)) if converter == "int" else quote(data.draw(path_value), safe="")
        path = path.replace(f"<{converter}:{param}>" if f"<{converter}:{param}>" in path else f"<{param}>", value)
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), odd_text, max_size=4))
    url = path + ("?" + urlencode(query) if query else "")
    payload = data.draw(body) if method in ("post", "put") else None
    raw = json.dumps(payload) if payload is not None else ""
    r = client.generic(method.upper(), url, data=raw, content_type="application/json", headers=TOKEN)
    assert r.status_code < 500, (method, url, payload, r.content[:500])
    if r.status_code >= 400:
        answer = r.json()
        assert {"code", "message", "retryable", "trace_id"} <= set(answer), answer


TX = st.sampled_from([f"tx-{n}" for n in range(6)])  # few: replays, mismatches, rollbacks of them
ROUND = st.sampled_from([f"r-{n}" for n in range(3)])


def wallet_call(token: str) -> st.SearchStrategy:
    """A wallet call that is mostly well-formed, so that it reaches the rules, with now and then
    a field given an odd value or left out."""
    calls = {
        "authenticate": st.fixed_dictionaries({"session_token": st.just(token)}),
        "balance": st.one_of(
            st.fixed_dictionaries({"session_token": st.just(token)}),
            st.fixed_dictionaries({"player_id": st.just("p_demo_1"), "currency": st.sampled_from(["EUR", "USD"])}),
        ),
        "debit": st.fixed_dictionaries(
            {
                "transaction_id": TX,
                "session_token": st.just(token),
                "round_id": ROUND,
                "game_id": st.just("sandbox:dice"),
                "amount": st.integers(min_value=1, max_value=60_000),
                "currency": st.just("EUR"),
                "reason": st.sampled_from(["bet", "buy_in", "tournament_entry"]),
                "round_closed": st.booleans(),
            }
        ),
        "credit": st.fixed_dictionaries(
            {
                "transaction_id": TX,
                "player_id": st.just("p_demo_1"),
                "round_id": ROUND,
                "game_id": st.just("sandbox:dice"),
                "amount": st.integers(min_value=0, max_value=60_000),
                "currency": st.just("EUR"),
                "reason": st.sampled_from(["win", "cash_out", "prize", "bounty", "jackpot", "refund"]),
                "round_closed": st.booleans(),
            }
        ),
        "rollback": st.fixed_dictionaries(
            {"transaction_id": TX, "reference_transaction_id": TX, "player_id": st.just("p_demo_1"), "round_id": ROUND}
        ),
    }

    @st.composite
    def one(draw):
        endpoint = draw(st.sampled_from(sorted(calls)))
        payload = draw(calls[endpoint])
        mutation = draw(st.sampled_from(["none", "none", "none", "odd", "drop"]))
        field = draw(st.sampled_from(sorted(payload)))
        if mutation == "odd":
            payload[field] = draw(json_value)
        elif mutation == "drop":
            del payload[field]
        return endpoint, payload

    return one()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_signed_wallet_call_is_a_server_error_and_the_books_hold(client, data):
    """The providers' side: runs of signed calls on a few rounds and transaction ids, mostly
    well-formed and now and then not. No 5xx; every error in the contract's shape; the
    balance never below zero; the books reconcile after each run."""
    from ledger.reconciliation import ledger_reconcile
    from wallet.models import Wallet
    from wallet.tests.api_client import ProviderClient, launch

    if not Player.objects.exists():
        call_command("seed_sandbox", stdout=io.StringIO())
    token = launch("p_demo_1")
    provider = ProviderClient(client)
    run = uuid.uuid4().hex[:8]  # the examples share one transaction: each run its own ids

    def own(value):
        return f"{run}:{value}" if isinstance(value, str) and value[:3] in ("tx-", "r-0", "r-1", "r-2") else value

    for endpoint, payload in data.draw(st.lists(wallet_call(token), min_size=1, max_size=8)):
        payload = {key: own(value) for key, value in payload.items()}
        r = provider.post(endpoint, raw=json.dumps(payload).encode())
        assert r.status < 500, (endpoint, payload, r.body)
        if r.status >= 400:
            assert {"code", "message", "retryable", "trace_id"} <= set(r.body), r.body
    assert Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR").balance >= 0
    assert ledger_reconcile().ok
