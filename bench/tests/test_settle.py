"""The calls that settle a scenario before its measured window stay out of its checks."""

import random

import pytest

from bench.run import SETTLE_S, settle_calls


@pytest.mark.parametrize(
    "name, prefix, paths",
    [
        ("debit", "debit8", {"/api/v1/wallet/debit"}),
        ("rate", "rater", {"/api/v1/wallet/debit"}),
        ("rate", "ratern3", {"/api/v1/wallet/debit"}),
        ("hot", "hot8", {"/api/v1/wallet/debit"}),
        ("mixed", "mixed8", {"/api/v1/wallet/debit", "/api/v1/wallet/credit", "/api/v1/wallet/rollback"}),
        ("lean", "lean8", {"/lean/debit"}),
    ],
)
def test_settling_calls_are_of_the_scenarios_kind_with_ids_its_checks_do_not_count(name, prefix, paths):
    calls = settle_calls(name, prefix, 100, random.Random(1))
    assert len(calls) >= 6_000 * SETTLE_S  # more than 8 clients send in that time here
    assert {path for _, path, _ in calls} == paths
    # check_run counts provider_transaction_id__startswith=f"{prefix}-", lean_check LIKE f"{prefix}-%".
    ids = {payload["transaction_id"] for _, _, payload in calls}
    assert not {i for i in ids if i.startswith(f"{prefix}-")}
    assert all(i.startswith(f"{prefix}settle-") for i in ids)
    if name == "hot":
        assert len({payload["session_token"] for _, _, payload in calls}) == 1
