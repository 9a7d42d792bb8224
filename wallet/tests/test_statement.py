"""A wallet's statement: the balance at each end of a period and what moved it, by what it
was, for support explaining a balance and for a casino's reality check ("since you logged
in, you wagered ... and won ..."). The figures always add up to the minor unit, also while
money is moving."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from ledger.models import Currency
from wallet.models import Wallet
from wallet.selectors import STATEMENT_FIGURES
from wallet.services import (
    cashier_deposit,
    cashier_withdraw,
    wallet_adjust,
    wallet_credit,
    wallet_debit,
    wallet_rollback,
    withdrawal_reject,
)
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.test_cashier import TOKEN, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def statement(client, player_id, **query):
    return call(client, "GET", f"{player_id}/statement?{urlencode({'currency': 'EUR', **query})}")


def adds_up(body) -> bool:
    return (
        body["closing_balance"]
        == (
            body["opening_balance"]
            + body["deposited"]
            - body["withdrawn"]
            + body["returned"]
            + body["adjusted"]
            - body["wagered"]
            + body["won"]
        )
        and body["net"] == body["won"] - body["wagered"]
    )


def figures(body) -> dict:
    return {name: body[name] for name in STATEMENT_FIGURES}


class TestStatement:
    @pytest.fixture
    def played(self, sandbox, provider, wallet):
        """Funded with 10,000 before `mid`; after it, every kind of movement once."""
        player_id = wallet.player.player_id
        mid = timezone.now()
        wallet_debit(provider=provider, request=debit_request(wallet, amount=700, round_id="a"))
        wallet_debit(provider=provider, request=debit_request(wallet, amount=300, round_id="b", tx="bet-b"))
        wallet_rollback(provider=provider, request=rollback_request(wallet, reference="bet-b", round_id="b"))
        wallet_credit(provider=provider, request=credit_request(wallet, amount=250, round_id="a"))
        moves = {"player_id": player_id, "currency": "EUR", "operator": "operator:test", "reason": "test"}
        cashier_deposit(amount=2_000, reference="dep-1", **moves)
        cashier_withdraw(amount=1_000, reference="po-1", **moves)
        Currency.objects.filter(code="EUR").update(withdrawal_review_above=0)
        assert cashier_withdraw(amount=500, reference="po-2", **moves).status == "pending"
        withdrawal_reject(reference="po-2", staff="staff:eve", reason="duplicate")
        wallet_adjust(player_id=player_id, currency="EUR", amount=-100, created_by="staff:eve", reason="fee")
        return player_id, mid

    def test_it_explains_the_balance_by_what_moved_it(self, client, played):
        player_id, mid = played
        r = statement(client, player_id, since=mid.isoformat())
        assert r.status_code == 200, r.content
        body = r.json()
        assert figures(body) == {
            "opening_balance": 10_000,
            "deposited": 2_000,
            "withdrawn": 1_500,
            "returned": 500,
            "adjusted": -100,
            "wagered": 700,
            "won": 250,
            "net": -450,
            "closing_balance": 10_450,
        }
        assert adds_up(body)
        assert body["closing_balance"] == Wallet.objects.get(player__player_id=player_id).balance
        assert (body["player_id"], body["currency"]) == (player_id, "EUR")

    def test_without_since_it_starts_at_nothing_and_until_ends_it(self, client, played):
        player_id, mid = played
        whole = statement(client, player_id).json()
        assert (whole["opening_balance"], whole["deposited"], whole["closing_balance"]) == (0, 12_000, 10_450)
        assert whole["since"] is None and adds_up(whole)
        before = statement(client, player_id, until=mid.isoformat()).json()
        assert figures(before) == {
            **dict.fromkeys(STATEMENT_FIGURES, 0),
            "deposited": 10_000,
            "closing_balance": 10_000,
        }
        quiet = statement(client, player_id, since=timezone.now().isoformat()).json()
        assert figures(quiet) == {
            **dict.fromkeys(STATEMENT_FIGURES, 0),
            "opening_balance": 10_450,
            "closing_balance": 10_450,
        }

    def test_a_movement_stamped_after_the_answer_s_until_is_the_next_statement_s(self, client, played, monkeypatch):
        """Stamped just after the statement's read time, committed before its read (another
        worker's clock): it belongs to the statement that starts there, not to both."""
        from casino_platform import clock

        player_id, _ = played
        read_at = timezone.now()
        monkeypatch.setattr(clock, "now", lambda: read_at + timezone.timedelta(milliseconds=2))
        wallet_adjust(player_id=player_id, currency="EUR", amount=77, created_by="staff:t", reason="late stamp")
        monkeypatch.setattr(clock, "now", lambda: read_at)
        first = statement(client, player_id).json()
        assert first["until"] == read_at.isoformat().replace("+00:00", "Z") and adds_up(first)
        assert (first["adjusted"], first["closing_balance"]) == (-100, 10_450)  # the played ones, not the 77
        monkeypatch.undo()
        second = statement(client, player_id, since=read_at.isoformat()).json()
        assert (second["opening_balance"], second["adjusted"], second["closing_balance"]) == (10_450, 77, 10_527)

    def test_since_the_first_instant_a_date_takes_is_the_whole_wallet(self, client, played):
        player_id, _ = played
        body = statement(client, player_id, since="0001-01-01T00:00:00Z").json()
        assert (body["opening_balance"], body["closing_balance"]) == (0, 10_450), body
        assert body["deposited"] == 12_000 and adds_up(body)

    def test_no_wallet_in_that_currency_is_all_nothing(self, client, sandbox):
        r = call(client, "GET", "p_demo_1/statement?currency=USD&until=2026-12-01T00:00:00Z")
        assert r.status_code == 200, r.content
        assert figures(r.json()) == dict.fromkeys(STATEMENT_FIGURES, 0)
        assert r.json()["until"] == "2026-12-01T00:00:00Z"

    @pytest.mark.parametrize(
        "query, field",
        [
            ("", "currency"),
            ("currency=EU", "currency"),
            ("currency=XXX", "currency"),
            ("currency=EUR&since=yesterday", "since"),
            ("currency=EUR&until=2026-02-30T00:00:00Z", "until"),
            ("currency=EUR&since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until"),
            ("currency=EUR&since=2026-12-01T00:00:00Z&until=2026-12-01T00:00:00Z", "until"),
        ],
    )
    def test_a_bad_query_is_a_validation_error(self, client, sandbox, query, field):
        r = call(client, "GET", f"p_demo_1/statement?{query}")
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert field in r.json()["details"]

    def test_an_unknown_player_and_no_token(self, client, sandbox):
        r = statement(client, "p_nobody")
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")
        assert call(client, "GET", "p_demo_1/statement?currency=EUR", headers={}).status_code == 401

    def test_in_the_schema(self, client):
        schema = client.get("/api/schema/?format=json").json()
        operation = schema["paths"]["/api/v1/players/{player_id}/statement"]["get"]
        assert operation["operationId"] == "player_wallet_statement"
        assert {p["name"] for p in operation["parameters"]} >= {"player_id", "currency", "since", "until"}


@pytest.mark.django_db(transaction=True)
def test_the_figures_add_up_while_money_moves(live_server):
    """Deposits and withdrawals over HTTP in parallel with statements over HTTP: each
    statement from the wallet's start opens at 0 and closes at a balance the wallet really
    had, because the balance and the entries are read in one snapshot."""
    call_command("seed_sandbox", stdout=io.StringIO())
    base = f"{live_server.url}/api/v1/players/p_demo_1"
    stop = threading.Event()

    def move(n: int) -> int:
        with requests.Session() as http:
            kind = "deposits" if n % 2 == 0 else "withdrawals"
            body = {"currency": "EUR", "amount": 100 + n, "reference": f"race-{n}"}
            return http.post(f"{base}/{kind}", json=body, headers=TOKEN, timeout=30).status_code

    def read() -> list[dict]:
        seen = []
        with requests.Session() as http:
            while not stop.is_set() or not seen:
                seen.append(http.get(f"{base}/statement?currency=EUR", headers=TOKEN, timeout=30).json())
        return seen

    with ThreadPoolExecutor(max_workers=6) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        statuses = list(pool.map(move, range(60)))
        stop.set()
        seen = [body for reader in readers for body in reader.result()]
    assert set(statuses) == {200}
    # Each statement is a state the wallet was in: 100,000 seeded, then some of the moves.
    assert len(seen) > 10
    assert all(body["opening_balance"] == 0 and adds_up(body) for body in seen), [
        figures(body) for body in seen if body["opening_balance"] != 0 or not adds_up(body)
    ][:3]
    final = requests.get(f"{base}/statement?currency=EUR", headers=TOKEN, timeout=30).json()
    assert final["closing_balance"] == Wallet.objects.get(player__player_id="p_demo_1").balance
    assert final["closing_balance"] == 100_000 + sum(100 + n for n in range(0, 60, 2)) - sum(
        100 + n for n in range(1, 60, 2)
    )


def test_every_kind_of_journal_transaction_has_its_line():
    """The figures add up only if every movement is one of them: a new kind of journal
    transaction needs its line in wallet_activity (and here)."""
    from ledger.models import JournalTransaction

    assert set(JournalTransaction.Kind.values) == {"debit", "credit", "rollback", "deposit", "withdrawal", "adjustment"}
