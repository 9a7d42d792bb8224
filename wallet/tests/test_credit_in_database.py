"""The credit exists twice: PostgreSQL's wallet_credit_v2 (one round trip, the providers'
path) and the Python path (SQLite; PostgreSQL too when the player has no wallet in the
currency yet). Random sequences of credits, with debits among them, run against two
identical worlds, one per path, must get the same answers and leave the same state."""

import re

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from casino_platform import clock
from casino_platform.errors import ValidationFailed, error_class_for_code
from ledger.models import Account, Currency
from players.errors import PlayerNotFound
from sessions.errors import RoundNotFound
from wallet.models import Wallet
from wallet.services import CreditRequest, wallet_credit
from wallet.services.common import wallet_get_or_create_locked
from wallet.tests.equivalence import STARTS, World, both_paths_alike, credit_step


class CreditInDatabaseTest(TestCase):
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(STARTS), st.lists(credit_step, min_size=1, max_size=14))
    def test_both_paths_answer_and_book_alike(self, start, steps):
        def play(world: World, s: dict, trace_id: str) -> tuple:
            return (world.credit if s["op"] == "credit" else world.debit)(s, trace_id=trace_id)

        both_paths_alike(start, steps, play, ("WALLET_CREDIT_IN_DATABASE", "WALLET_DEBIT_IN_DATABASE"))

    def test_the_function_stores_the_status_of_each_code(self):
        """The SQL names each refusal's HTTP status itself: it must be the error class's."""
        sql = (django_settings.BASE_DIR / "wallet" / "sql" / "wallet_credit_v2.sql").read_text()
        pairs = set(re.findall(r"err_code := '([A-Z_]+)'; err_status := (\d+);", sql))
        assert {code for code, _ in pairs} == {"PLAYER_NOT_FOUND", "CURRENCY_MISMATCH", "ROUND_NOT_FOUND"}
        for code, status in pairs:
            assert error_class_for_code(code).http_status == int(status), code


class CreditHandedBackTest(TestCase):
    def test_a_credit_in_a_new_currency_creates_the_wallet_on_the_python_path(self):
        world = World(clock.now())
        step = {
            "player": "ok", "round": "r-new", "reason": "prize", "amount": 500, "currency": "USD", "tx": "t-usd",
            "close": True, "session": None,
        }  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            answer = world.credit(step, trace_id="trace-usd")
        assert answer[0] == "accepted" and answer[1]["balance"] == 500
        assert Wallet.objects.get(player=world.players["ok"], currency_id="USD").balance == 500
        # The function looked first, wrote nothing and handed the credit over.
        statements = _statements(queries)
        assert "wallet_credit_v2" in statements[0] and len(statements) > 1
        assert not any("wallet_credit_v2" in sql for sql in statements[1:])
        # The next credit in that currency is the function's alone.
        request = CreditRequest(
            transaction_id="t-usd-2", player_id=world.players["ok"].player_id, round_id="r-new",
            game_id=f"eq-{world.tag}:dice", amount=500, currency="USD", reason="prize",
        )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            again = wallet_credit(provider=world.provider, request=request)
        assert again.balance == 1000
        assert len(_statements(queries)) == 1

    def test_a_refused_credit_opens_no_wallet(self):
        """Handed over for want of a wallet, a credit the round refuses leaves none behind: one
        would let later credits into a currency disabled since, and sessions be launched in
        it."""
        world = World(clock.now())
        step = {
            "player": "poor", "round": "r-none", "reason": "win", "amount": 500, "currency": "USD", "tx": "t-usd",
            "close": True, "session": None,
        }  # fmt: skip
        with pytest.raises(RoundNotFound):
            wallet_credit(provider=world.provider, request=_request(world, step))
        poor = world.players["poor"]
        assert not Wallet.objects.filter(player=poor, currency_id="USD").exists()
        assert not Account.objects.filter(key=f"wallet:{poor.player_id}:USD").exists()

    def test_an_unknown_player_in_a_disabled_currency_is_not_found_on_both_paths(self):
        world = World(clock.now())
        Currency.objects.filter(code="USD").update(is_enabled=False)
        for in_database in (True, False):
            request = CreditRequest(
                transaction_id=f"t-nobody-{in_database}", player_id="nobody", round_id="r-1",
                game_id=f"eq-{world.tag}:dice", amount=500, currency="USD", reason="prize",
            )  # fmt: skip
            with self.settings(WALLET_CREDIT_IN_DATABASE=in_database), pytest.raises(PlayerNotFound):
                wallet_credit(provider=world.provider, request=request)

    def test_a_credit_in_a_disabled_currency_opens_no_wallet_but_is_paid_into_one_that_exists(self):
        world = World(clock.now())
        Currency.objects.filter(code="USD").update(is_enabled=False)
        step = {
            "player": "poor", "round": "r-new", "reason": "prize", "amount": 500, "currency": "USD", "tx": "t-usd",
            "close": True, "session": None,
        }  # fmt: skip
        with pytest.raises(ValidationFailed, match="not enabled"):
            wallet_credit(provider=world.provider, request=_request(world, step))
        assert not Wallet.objects.filter(player=world.players["poor"], currency_id="USD").exists()
        # Not the key's answer: once a wallet holds the currency, the same credit is paid.
        Currency.objects.filter(code="USD").update(is_enabled=True)
        wallet_get_or_create_locked(player=world.players["poor"], currency="USD")
        Currency.objects.filter(code="USD").update(is_enabled=False)
        assert wallet_credit(provider=world.provider, request=_request(world, step)).balance == 500


def _request(world: World, step: dict) -> CreditRequest:
    return CreditRequest(
        transaction_id=step["tx"], player_id=world.players[step["player"]].player_id, round_id=step["round"],
        game_id=f"eq-{world.tag}:dice", amount=step["amount"], currency=step["currency"], reason=step["reason"],
    )  # fmt: skip


def _statements(queries: CaptureQueriesContext) -> list[str]:
    # The test's own transaction turns the durable block into savepoints: not the credit's.
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
