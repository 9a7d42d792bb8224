"""The calls that settle a scenario before its measured window stay out of its checks."""

import random
from types import SimpleNamespace

import pytest

from bench import run as bench_run
from bench.run import SETTLE_S, open_loop_requests, settle_calls, signed_lines


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


def test_a_fixed_rate_leads_in_with_as_many_debits_as_it_was_asked_for():
    # settle() asks for rate x --rate-lead-in of them, sent open loop at the scenario's rate.
    calls = settle_calls("rate", "rater", 100, random.Random(1), count=1_234)
    assert len(calls) == 1_234
    assert {path for _, path, _ in calls} == {"/api/v1/wallet/debit"}
    assert all(payload["transaction_id"].startswith("ratersettle-") for _, _, payload in calls)


def test_open_loop_requests_are_the_signed_calls_as_http():
    lines = signed_lines(settle_calls("rate", "rater", 10, random.Random(1), count=3))
    raw = open_loop_requests(lines)
    assert len(raw) == 3
    for request, (_, path, timestamp, signature, body) in zip(raw, lines, strict=True):
        head, _, sent_body = request.partition(b"\r\n\r\n")
        assert head.startswith(f"POST {path} HTTP/1.1\r\n".encode())
        assert f"X-Timestamp: {timestamp}\r\n".encode() in head + b"\r\n"
        assert f"X-Signature: {signature}".encode() in head
        assert f"Content-Length: {len(body)}".encode() in head
        assert sent_body == body


@pytest.mark.parametrize(
    "workload, paths",
    [
        ("debit", {b"/api/v1/wallet/debit"}),
        ("hot", {b"/api/v1/wallet/debit"}),
        ("mixed", {b"/api/v1/wallet/debit", b"/api/v1/wallet/credit", b"/api/v1/wallet/rollback"}),
    ],
)
def test_a_fixed_rate_leads_in_with_its_own_workloads_calls(workload, paths, monkeypatch, tmp_path):
    sent = []

    def fake_rate(port, requests, rate):
        sent.append((rate, requests))
        return SimpleNamespace(statuses={200: len(requests)}, codes={}, socket_errors=0)

    monkeypatch.setattr(bench_run, "run_rate", fake_rate)
    args = SimpleNamespace(rate_lead_in=3, players=50)
    bench_run.settle(
        args, SimpleNamespace(port=1), tmp_path, "rate", f"rate{workload}", random.Random(1), 400, workload
    )
    [(rate, requests)] = sent
    assert rate == 400 and len(requests) == 400 * 3
    assert {request.split(b" ", 2)[1] for request in requests} == paths
    if workload == "hot":
        assert len({request.split(b'"session_token":"')[1][:20] for request in requests}) == 1
