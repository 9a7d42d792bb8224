"""Production's own start command, bin/serve (granian, several worker processes), over a
socket against the test database: what a provider and an operator meet in production."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from casino_platform.db import postgresql_url
from casino_platform.tests.test_metrics import parse_samples, value
from ledger.reconciliation import ledger_reconcile
from provider.signing import sign_request
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient, debit_payload, launch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency, pytest.mark.slow]

ROOT = Path(settings.BASE_DIR)
WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path: Path, **env: str) -> tuple[int, subprocess.Popen]:
    """bin/serve on a free port, 2 processes x 2 threads, on the test database, as production
    starts it; env overrides the environment."""
    db = connection.settings_dict
    port = free_port()
    # The admin's files collected as the image collects them (Dockerfile), for granian to serve.
    static_root = tmp_path / "static"
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", interactive=False, verbosity=0)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "casino_platform.settings",
        "DATABASE_URL": postgresql_url(db),
        "DEBUG": "0",
        "SECRET_KEY": "serve-test",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "GRANIAN": str(Path(sys.executable).parent / "granian"),
        "GRANIAN_LOG_LEVEL": "warning",
        "BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": str(WORKERS),
        "WEB_THREADS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "STATIC_ROOT": str(static_root),
        **env,
    }
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(["sh", str(ROOT / "bin" / "serve")], cwd=ROOT, env=env, stdout=log, stderr=log)
    return port, proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def served(tmp_path):
    """bin/serve answering; stopped with SIGTERM as a container stop does."""
    port, proc = serve(tmp_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            requests.get(base + "/health", timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
    yield base, port, tmp_path / "prometheus", proc
    stop(proc)


@pytest.fixture
def token():
    call_command("seed_sandbox", stdout=open(os.devnull, "w"))
    return launch("p_demo_1")


def test_parallel_keep_alive_debits_are_booked_once_each_and_counted_across_workers(served, token):
    base, _, metrics_dir, _ = served
    clients = [ProviderClient(base_url=base, session=requests.Session()) for _ in range(8)]
    barrier = threading.Barrier(len(clients))

    def provider(i: int) -> list[int]:
        barrier.wait()
        # Ten debits each on one kept-alive connection, then the first resent: a replay.
        statuses = [clients[i].post("debit", debit_payload(token, f"serve-{i}-{k}")).status for k in range(10)]
        again = clients[i].post("debit", debit_payload(token, f"serve-{i}-0"))
        assert again.headers.get("Idempotent-Replayed") == "true"
        return [*statuses, again.status]

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = [s for result in pool.map(provider, range(len(clients))) for s in result]

    assert statuses == [200] * 88

    def workers_seen() -> set[str]:
        return {p.name.split("_")[-1] for p in metrics_dir.glob("histogram_*.db")}

    # Which worker accepts a connection is the kernel's and granian's choice: now and then one
    # took all eight. Debits on fresh connections until each worker has answered one.
    more = 0
    while len(workers_seen()) < WORKERS and more < 200:
        with requests.Session() as http:
            fresh = ProviderClient(base_url=base, session=http)
            assert fresh.post("debit", debit_payload(token, f"serve-more-{more}")).status == 200
        more += 1
    assert len(workers_seen()) == WORKERS
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 100_000 - (80 + more) * 100
    assert ledger_reconcile().ok
    samples = parse_samples(requests.get(base + "/metrics", timeout=10).text)
    # Every worker's samples, whichever worker answers the scrape.
    assert value(samples, "wallet_request_duration_seconds_count", endpoint="debit", status="200") == 88 + more


def test_an_oversized_body_is_refused_before_it_is_read_and_the_answer_arrives(served, token):
    _, port, _, _ = served
    timestamp = str(int(time.time()))
    path = "/api/v1/wallet/debit"
    announced = 50 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Provider-Id: sandbox\r\nX-Timestamp: {timestamp}\r\n"
                f"X-Signature: {sign_request(secret='x', timestamp=timestamp, method='POST', path=path, body=b'')}\r\n"
                f"Content-Length: {announced}\r\n\r\n"
            ).encode()
            + b"{" * 100_000
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"PAYLOAD_TOO_LARGE"' in answer


def test_idle_keep_alive_connections_do_not_hold_the_workers(served):
    """More idle provider connections than the server has threads: a new caller is still
    answered at once (uWSGI's http11-socket failed this: casino_platform/uwsgi.ini)."""
    base, port, _, _ = served

    def health(s: socket.socket) -> bytes:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while b"}" not in answer:
            answer += s.recv(4096)
        return answer.split(b"\r\n", 1)[0]

    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4 * WORKERS * 2)]
    try:
        assert {health(s) for s in idle} == {b"HTTP/1.1 200 OK"}
        # Answered within the timeout although every kept-alive connection is idle.
        assert requests.get(base + "/health", timeout=5).status_code == 200
    finally:
        for s in idle:
            s.close()


def test_the_admins_static_files_are_served_with_debug_off(served):
    base, port, _, _ = served
    login = requests.get(base + "/admin/login/", timeout=10)
    assert login.status_code == 200 and "/static/admin/css/base.css" in login.text
    css = requests.get(base + "/static/admin/css/base.css", timeout=10)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.content == (Path(admin.__file__).parent / "static" / "admin" / "css" / "base.css").read_bytes()
    assert requests.get(base + "/static/admin/css/missing.css", timeout=10).status_code == 404
    # Nothing outside the collected directory (serve.log lies beside it), however the path is
    # spelled; sent as written, since requests would resolve the dots itself.
    for path in ("/static/../serve.log", "/static/%2e%2e/serve.log", "/static/..%2fserve.log"):
        http = HTTPConnection("127.0.0.1", port, timeout=10)
        http.request("GET", path)
        answer = http.getresponse()
        assert answer.status == 404, (path, answer.read()[:200])
        http.close()


def test_sigterm_stops_the_server_cleanly(served):
    _, _, _, proc = served
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_sigterm_while_the_workers_still_load_the_app_stops_the_server_at_once(tmp_path):
    """A container stopped just after it started: granian's workers lost a stop sent before
    they had loaded the app, and the server waited out its 30 s kill timeout for them (CI
    failed on it once). casino_platform/wsgi.py ends such a worker at once."""
    marks = tmp_path / "loaded"
    marks.mkdir()
    _, proc = serve(tmp_path, WSGI_APP="casino_platform.tests.slow_wsgi:application", SLOW_WSGI_MARKS=str(marks))
    try:
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < WORKERS:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        # The bug waited out granian's 30 s kill timeout.
        assert proc.wait(timeout=20) == 0, (tmp_path / "serve.log").read_text()
        assert "refused to gracefully stop" not in (tmp_path / "serve.log").read_text()
    finally:
        stop(proc)
