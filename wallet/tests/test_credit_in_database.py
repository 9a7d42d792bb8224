"""The credit exists twice: PostgreSQL's wallet_credit_v1 (one round trip, the providers'
path) and the Python path (SQLite; PostgreSQL too when the player has no wallet in the
currency yet). Random sequences of credits, with debits among them, run against two
identical worlds, one per path, must get the same answers and leave the same state."""

import re
from datetime import timedelta
from unittest import mock

from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from casino_platform import clock
from casino_platform.errors import error_class_for_code
from wallet.models import Wallet
from wallet.services import CreditRequest, wallet_credit
from wallet.tests.equivalence import STARTS, World, credit_step


class CreditInDatabaseTest(TestCase):
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(STARTS), st.lists(credit_step, min_size=1, max_size=14))
    def test_both_paths_answer_and_book_alike(self, start, steps):
        now = start
        with mock.patch.object(clock, "now", lambda: now):
            in_database, in_python = World(now), World(now)
            previous = None
            for n, s in enumerate(steps):
                if s["repeat"] and previous is not None:
                    s = previous
                elif s["tx"] == "new":
                    s = {**s, "tx": f"t-{n}"}
                previous = s
                now += timedelta(seconds=s["advance"])
                call = World.credit if s["op"] == "credit" else World.debit
                with override_settings(WALLET_CREDIT_IN_DATABASE=True, WALLET_DEBIT_IN_DATABASE=True):
                    fast = call(in_database, s, trace_id=f"trace-{n}")
                with override_settings(WALLET_CREDIT_IN_DATABASE=False, WALLET_DEBIT_IN_DATABASE=False):
                    slow = call(in_python, s, trace_id=f"trace-{n}")
                assert fast == slow, f"step {n}: {s}"
                event(f"{s['op']} {fast[0]} {fast[1] if fast[0] == 'refused' else ''}{' replayed' if fast[-1] else ''}")
            assert in_database.state() == in_python.state()

    def test_the_function_stores_the_status_of_each_code(self):
        """The SQL names each refusal's HTTP status itself: it must be the error class's."""
        sql = (django_settings.BASE_DIR / "wallet" / "sql" / "wallet_credit_v1.sql").read_text()
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
        assert "wallet_credit_v1" in statements[0] and len(statements) > 1
        assert not any("wallet_credit_v1" in sql for sql in statements[1:])
        # The next credit in that currency is the function's alone.
        request = CreditRequest(
            transaction_id="t-usd-2", player_id=world.players["ok"].player_id, round_id="r-new",
            game_id=f"eq-{world.tag}:dice", amount=500, currency="USD", reason="prize",
        )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            again = wallet_credit(provider=world.provider, request=request)
        assert again.balance == 1000
        assert len(_statements(queries)) == 1


def _statements(queries: CaptureQueriesContext) -> list[str]:
    # The test's own transaction turns the durable block into savepoints: not the credit's.
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
