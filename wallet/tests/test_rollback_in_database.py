"""The rollback of a booked debit exists twice: PostgreSQL's wallet_rollback_v1 (one round
trip) and the Python path (SQLite; PostgreSQL too for a debit not in the journal, which
leaves a tombstone). Random sequences of debits, credits and rollbacks naming them run
against two identical worlds, one per path, must get the same answers and leave the same
state."""

import re

from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from casino_platform import clock
from casino_platform.errors import error_class_for_code
from wallet.tests.equivalence import STARTS, World, both_paths_alike, rollback_step

FLAGS = ("WALLET_ROLLBACK_IN_DATABASE", "WALLET_CREDIT_IN_DATABASE", "WALLET_DEBIT_IN_DATABASE")


class RollbackInDatabaseTest(TestCase):
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(STARTS), st.lists(rollback_step, min_size=1, max_size=14))
    def test_both_paths_answer_and_book_alike(self, start, steps):
        def play(world: World, s: dict, trace_id: str) -> tuple:
            return getattr(world, s["op"])(s, trace_id=trace_id)

        both_paths_alike(start, steps, play, FLAGS)

    def test_the_function_stores_the_status_of_each_code(self):
        sql = (django_settings.BASE_DIR / "wallet" / "sql" / "wallet_rollback_v1.sql").read_text()
        pairs = set(re.findall(r"err_code := '([A-Z_]+)'; err_status := (\d+);", sql))
        assert {code for code, _ in pairs} == {"PLAYER_NOT_FOUND", "ROLLBACK_NOT_ALLOWED"}
        for code, status in pairs:
            assert error_class_for_code(code).http_status == int(status), code


class RollbackInOneCallTest(TestCase):
    def test_a_booked_debit_rolls_back_in_one_call_and_an_unknown_one_leaves_a_tombstone(self):
        world = World(clock.now())
        debit = {
            "op": "debit", "session": "ok", "game": "dice", "round": "r1", "amount": 40, "tx": "d1",
            "close": False, "player": None, "currency": "EUR",
        }  # fmt: skip
        assert world.debit(debit, trace_id="t")[0] == "accepted"
        rollback = {"tx": "rb1", "reference": "d1", "player": "ok", "round": "r1"}
        with CaptureQueriesContext(connection) as queries:
            answer = world.rollback(rollback, trace_id="t")
        assert answer[1]["status"] == "rolled_back" and answer[1]["balance"] == 10_000
        calls = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert "wallet_rollback_v1" in calls[0]
        # The rest is the test's own look-up of the journal ordinal.
        assert not any("wallet_rollback_v1" in sql or "INSERT" in sql for sql in calls[1:])
        unknown = world.rollback({**rollback, "tx": "rb2", "reference": "never-sent"}, trace_id="t")
        assert unknown[1]["status"] == "tombstone"
