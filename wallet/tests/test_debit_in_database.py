"""The debit exists twice: PostgreSQL's wallet_debit_v1 (one round trip, the providers' hot
path) and the Python path (SQLite, trusted callers). Random sequences of debits run against
two identical worlds, one per path, must get the same answers and leave the same state."""

import re

from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from casino_platform import clock
from casino_platform.errors import error_class_for_code
from ledger.models import Account
from sessions.models import PlatformSwitch
from sessions.services import platform_switch_set
from wallet.tests.equivalence import STARTS, World, both_paths_alike, debit_step


class DebitInDatabaseTest(TestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(STARTS), st.lists(debit_step, min_size=1, max_size=14))
    def test_both_paths_answer_and_book_alike(self, start, steps):
        def play(world: World, s: dict, trace_id: str) -> tuple:
            platform_switch_set(name=PlatformSwitch.Name.MAINTENANCE, is_on=s["maintenance"], changed_by="test")
            return world.debit(s, trace_id=trace_id)

        both_paths_alike(start, steps, play, ("WALLET_DEBIT_IN_DATABASE",))

    def test_the_functions_store_the_status_of_each_code(self):
        """The SQL names each refusal's HTTP status itself: it must be the error class's."""
        for version in ("v1", "v2", "v3"):
            sql = (django_settings.BASE_DIR / "wallet" / "sql" / f"wallet_debit_{version}.sql").read_text()
            pairs = set(re.findall(r"err_code := '([A-Z_]+)'; err_status := (\d+);", sql))
            assert len(pairs) >= 9, version
            for code, status in pairs:
                assert error_class_for_code(code).http_status == int(status), (version, code)


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
