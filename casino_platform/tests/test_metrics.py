"""GET /metrics: wallet latency, errors and replays; the outbound queue and withdrawal review gauges;
the token."""

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from casino_platform import metrics as metrics_module
from provider.models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer
from wallet.tests.api_client import ProviderClient, debit_payload, launch

pytestmark = pytest.mark.django_db

Samples = dict[tuple[str, frozenset], float]


def scrape(client, **headers) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse_samples(response.content.decode())


def parse_samples(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def api(client):
    call_command("seed_sandbox", stdout=open(os.devnull, "w"))
    return ProviderClient(client)


def test_wallet_latency_errors_and_replays(client, api):
    before = scrape(client)

    token = launch("p_demo_1")
    ok = api.post("debit", debit_payload(token, "m-1"))
    assert ok.status == 200 and "Idempotent-Replayed" not in ok.headers
    replay = api.post("debit", debit_payload(token, "m-1"))
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    refused = api.post("debit", debit_payload(launch("p_low_balance"), "m-2", amount=100))
    assert refused.status == 402 and refused.body["code"] == "INSUFFICIENT_FUNDS"
    forged = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, secret="not-the-secret")
    assert forged.status == 401 and forged.body["code"] == "INVALID_SIGNATURE"

    after = scrape(client)
    hist = "wallet_request_duration_seconds"
    assert delta(before, after, f"{hist}_count", endpoint="debit", status="200") == 2
    assert delta(before, after, f"{hist}_count", endpoint="debit", status="402") == 1
    assert delta(before, after, f"{hist}_bucket", endpoint="debit", status="200", le="+Inf") == 2
    assert delta(before, after, f"{hist}_sum", endpoint="debit", status="200") > 0
    # The buckets resolve single-digit milliseconds.
    for le in ("0.001", "0.0025", "0.005", "0.0075", "0.01", "2.5"):
        assert (f"{hist}_bucket", frozenset({"endpoint": "debit", "status": "200", "le": le}.items())) in after
    assert delta(before, after, "wallet_errors_total", endpoint="debit", code="INSUFFICIENT_FUNDS") == 1
    assert delta(before, after, "wallet_errors_total", endpoint="balance", code="INVALID_SIGNATURE") == 1
    assert delta(before, after, "wallet_errors_total", endpoint="debit", code="UNKNOWN") == 0
    assert delta(before, after, "wallet_idempotent_replays_total", endpoint="debit") == 1


def test_unknown_wallet_paths_share_one_label(client):
    before = scrape(client)
    assert client.post("/api/v1/wallet/nope", b"{}", content_type="application/json").status_code == 404
    after = scrape(client)
    assert delta(before, after, "wallet_request_duration_seconds_count", endpoint="other", status="404") == 1
    assert delta(before, after, "wallet_errors_total", endpoint="other", code="NOT_FOUND") == 1


def test_the_middleware_reads_error_codes_defensively():
    from django.http import HttpResponse, StreamingHttpResponse

    assert metrics_module._error_code(HttpResponse(b"<html>oops</html>", status=500)) == "UNKNOWN"
    assert metrics_module._error_code(HttpResponse(b"[1]", status=400)) == "UNKNOWN"
    assert metrics_module._error_code(StreamingHttpResponse(iter([b"{}"]), status=500)) == "UNKNOWN"
    assert metrics_module._error_code(HttpResponse(b'{"code": "RG_LIMIT"}', status=403)) == "RG_LIMIT"


@pytest.fixture
def outbox():
    partner = PartnerCasino.objects.create(
        name="acme", base_url="http://127.0.0.1:9", provider_code="us", secret_encrypted="x"
    )
    player = PartnerPlayer.objects.create(partner=partner, partner_player_id="p1")
    round_obj = GameRound.objects.create(
        partner=partner, round_id="r1", player=player, game_id="us:dice", currency="EUR", stake=100
    )
    n = iter(range(1000))

    def add(kind: str, status: str, *, age: float = 0, flagged: bool = False) -> OutboundTransaction:
        tx = OutboundTransaction.objects.create(
            partner=partner,
            player=player,
            round=round_obj,
            transaction_id=f"{kind}-{next(n)}",
            kind=kind,
            amount=100,
            currency="EUR",
            status=status,
        )
        now = timezone.now()
        OutboundTransaction.objects.filter(pk=tx.pk).update(
            created_at=now - timedelta(seconds=age), flagged_at=now if flagged else None
        )
        return tx

    return add


def outbound_values(samples: Samples) -> dict[str, float]:
    return {
        "credit_depth": value(samples, "outbound_queue_depth", kind="credit"),
        "rollback_depth": value(samples, "outbound_queue_depth", kind="rollback"),
        "credit_age": value(samples, "outbound_queue_oldest_age_seconds", kind="credit"),
        "rollback_age": value(samples, "outbound_queue_oldest_age_seconds", kind="rollback"),
        "flagged": value(samples, "outbound_flagged"),
    }


def test_outbound_gauges_read_the_queue(client, outbox, monkeypatch, django_assert_num_queries):
    empty = scrape(client)
    for name in ("outbound_queue_depth", "outbound_queue_oldest_age_seconds"):
        for kind in ("credit", "rollback"):
            assert (name, frozenset({"kind": kind}.items())) in empty
    assert outbound_values(empty) == dict.fromkeys(outbound_values(empty), 0.0)

    outbox("credit", "pending", age=300, flagged=True)  # queued, flagged after many attempts
    outbox("credit", "sending", age=60)
    outbox("credit", "succeeded", age=900, flagged=True)  # delivered: neither queued nor flagged
    outbox("credit", "failed", age=800, flagged=True)  # refused by the partner: flagged, not queued
    outbox("rollback", "pending", age=30)
    outbox("debit", "sending", age=1000)  # real-time debits are not the outbox
    outbox("debit", "failed", age=1000)  # a refused bet: not flagged

    frozen = timezone.now()
    monkeypatch.setattr("casino_platform.clock.now", lambda: frozen)
    with django_assert_num_queries(1):
        snapshot = metrics_module.outbound_queue_snapshot()
    assert snapshot["depth"] == {"credit": 2, "rollback": 1}
    assert snapshot["flagged"] == 2

    got = outbound_values(scrape(client))
    assert got["credit_depth"] == 2 and got["rollback_depth"] == 1 and got["flagged"] == 2
    assert 300 <= got["credit_age"] < 310
    assert 30 <= got["rollback_age"] < 40


def test_withdrawal_gauges_read_the_review_queue(client, api, monkeypatch):
    from ledger.models import Currency
    from wallet.services import cashier_withdraw, withdrawal_approve

    empty = scrape(client)
    assert value(empty, "withdrawals_pending", currency="EUR") == 0.0
    assert ("withdrawals_pending_oldest_age_seconds", frozenset({"currency": "EUR"}.items())) in empty
    Currency.objects.filter(code="EUR").update(withdrawal_review_above=0)
    for reference, amount in (("po-m1", 1_500), ("po-m2", 2_500), ("po-m3", 100)):
        cashier_withdraw(
            player_id="p_demo_1", currency="EUR", amount=amount, reference=reference, operator="t", reason="x"
        )
    withdrawal_approve(reference="po-m3", staff="staff:eve", reason="fine")
    later = timezone.now() + timedelta(seconds=90)
    monkeypatch.setattr("casino_platform.clock.now", lambda: later)
    samples = scrape(client)
    assert value(samples, "withdrawals_pending", currency="EUR") == 2
    assert value(samples, "withdrawals_pending_amount", currency="EUR") == 4_000
    assert 90 <= value(samples, "withdrawals_pending_oldest_age_seconds", currency="EUR") < 100
    assert value(samples, "withdrawals_pending", currency="USD") == 0


def test_a_failed_database_read_leaves_out_only_its_gauges(client, monkeypatch, caplog):
    from django.db import DatabaseError

    def fails():
        raise DatabaseError("the database went away")

    monkeypatch.setattr("wallet.selectors.withdrawals_pending_summary", fails)
    samples = scrape(client)
    assert not any(name.startswith("withdrawals_pending") for name, _ in samples)
    assert ("outbound_flagged", frozenset()) in samples
    assert "withdrawal queue metrics unavailable" in caplog.text


def test_the_token_guards_metrics_when_set(client, settings):
    assert client.get("/metrics").status_code == 200  # open by default
    settings.METRICS_TOKEN = "s3cret-metrics"
    r = client.get("/metrics")
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED" and r["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "s3cret-metrics"}).status_code == 401
    samples = scrape(client, Authorization="Bearer s3cret-metrics")
    assert any(name == "outbound_flagged" for name, _ in samples)


def test_metrics_only_answers_get(client):
    assert client.post("/metrics").status_code == 405


MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import django
    from django.http import HttpResponse
    from django.test import RequestFactory

    django.setup()
    from casino_platform import metrics

    # The database of the test run is not this process's; the query is exercised elsewhere.
    metrics.outbound_queue_snapshot = lambda: {
        "depth": {"credit": 3, "rollback": 0}, "oldest_age_seconds": {"credit": 7.5, "rollback": 0.0}, "flagged": 1
    }
    import wallet.selectors
    wallet.selectors.withdrawals_pending_summary = lambda: [
        {"currency": "EUR", "count": 2, "amount": 4000, "oldest": None}
    ]
    middleware = metrics.WalletMetricsMiddleware(
        lambda request: HttpResponse(b'{"code": "INSUFFICIENT_FUNDS"}', status=402)
    )
    middleware(RequestFactory().post("/api/v1/wallet/debit"))
    print(metrics.metrics(RequestFactory().get("/metrics")).content.decode())
    """
)


def test_multiprocess_mode_merges_worker_files_and_keeps_the_outbound_gauges(tmp_path: Path):
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "casino_platform.settings_test",
    }
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert list(tmp_path.glob("*.db")), "no per-process sample files were written"
    text = out.stdout
    assert 'wallet_request_duration_seconds_count{endpoint="debit",status="402"} 1.0' in text
    assert 'wallet_errors_total{code="INSUFFICIENT_FUNDS",endpoint="debit"} 1.0' in text
    assert 'outbound_queue_depth{kind="credit"} 3.0' in text
    assert "outbound_flagged 1.0" in text
    assert 'withdrawals_pending{currency="EUR"} 2.0' in text


def test_a_missing_multiprocess_directory_stops_the_start(tmp_path: Path):
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing"),
        "DJANGO_SETTINGS_MODULE": "casino_platform.settings_test",
    }
    script = "import django; django.setup(); import casino_platform.metrics"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "PROMETHEUS_MULTIPROC_DIR" in out.stderr
