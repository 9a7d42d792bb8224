"""The debit exists twice: PostgreSQL's wallet_debit_v1 (one round trip, the providers' hot
path) and the Python path (SQLite, trusted callers). Random sequences of debits run against
two identical worlds, one per path, must get the same answers and leave the same state."""

import re
from datetime import timedelta
from unittest import mock

from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from casino_platform import clock
from casino_platform.errors import error_class_for_code
from ledger.models import Account
from sessions.models import PlatformSwitch
from sessions.services import platform_switch_set
from wallet.tests.equivalence import STARTS, World, debit_step


class DebitInDatabaseTest(TestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(STARTS), st.lists(debit_step, min_size=1, max_size=14))
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
                platform_switch_set(name=PlatformSwitch.Name.MAINTENANCE, is_on=s["maintenance"], changed_by="test")
                with override_settings(WALLET_DEBIT_IN_DATABASE=True):
                    fast = in_database.debit(s, trace_id=f"trace-{n}")
                with override_settings(WALLET_DEBIT_IN_DATABASE=False):
                    slow = in_python.debit(s, trace_id=f"trace-{n}")
                assert fast == slow, f"step {n}: {s}"
                event(f"{fast[0]} {fast[1] if fast[0] == 'refused' else ''}{' replayed' if fast[-1] else ''}")
            assert in_database.state() == in_python.state()

    def test_the_function_stores_the_status_of_each_code(self):
        """The SQL names each refusal's HTTP status itself: it must be the error class's."""
        sql = (django_settings.BASE_DIR / "wallet" / "sql" / "wallet_debit_v1.sql").read_text()
        pairs = set(re.findall(r"err_code := '([A-Z_]+)'; err_status := (\d+);", sql))
        assert len(pairs) >= 9
        for code, status in pairs:
            assert error_class_for_code(code).http_status == int(status), code


class RefusalsLeaveNothingTest(TestCase):
    def test_an_unknown_currency_is_refused_and_creates_no_account(self):
        world = World(clock.now())
        step = {
            "session": "ok", "game": "dice", "round": "r1", "amount": 10, "tx": "t-xyz", "close": False,
            "player": None, "currency": "XYZ", "maintenance": False, "advance": 0,
        }  # fmt: skip
        answer = world.debit(step, trace_id="trace-xyz")
        assert answer[:2] == ["refused", "CURRENCY_MISMATCH"]
        assert not Account.objects.filter(currency_id="XYZ").exists()
        assert not Account.objects.filter(key__endswith=":XYZ").exists()
