"""The production web server as docker-compose.yml and the Dockerfile start it: uWSGI with
casino_platform/uwsgi.ini, serving the test database over a real socket."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from players.models import Player
from provider.models import Game
from sessions.services import session_create
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient

ROOT = Path(__file__).resolve().parents[2]
UWSGI = Path(sys.executable).parent / "uwsgi"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not UWSGI.exists(), reason="uWSGI is in requirements.txt; install them"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def uwsgi_server(tmp_path):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    db = connection.settings_dict
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "casino_platform.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = (tmp_path / "uwsgi.log").open("wb")
    proc = subprocess.Popen(
        [
            str(UWSGI),
            "--ini",
            str(ROOT / "casino_platform" / "uwsgi.ini"),
            "--http11-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--threads",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("uWSGI did not start:\n" + (tmp_path / "uwsgi.log").read_text())
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)  # die-on-term: stops at once
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def test_uwsgi_serves_debits_over_keep_alive_and_metrics(uwsgi_server):
    game = Game.objects.get(game_id="sandbox:dice")
    player = Player.objects.get(player_id="p_demo_1")
    _, token = session_create(provider=game.provider, player=player, game=game, currency="EUR")
    session = requests.Session()
    api = ProviderClient(base_url=uwsgi_server, session=session)
    for i in range(5):
        r = api.post(
            "debit",
            {
                "transaction_id": f"uwsgi-{i}",
                "session_token": token,
                "round_id": f"uwsgi-r{i}",
                "game_id": "sandbox:dice",
                "amount": 100,
                "currency": "EUR",
                "reason": "bet",
            },
        )
        assert r.status == 200, r.body
        assert r.headers["X-Trace-Id"] and r.headers["Content-Length"]
    assert Wallet.objects.get(player=player).balance == 100_000 - 500
    refused = api.post("debit", {"transaction_id": "uwsgi-x"})
    assert refused.status == 400 and refused.body["code"] == "VALIDATION_ERROR"
    metrics = requests.get(uwsgi_server + "/metrics", timeout=10).text
    assert 'wallet_request_duration_seconds_count{endpoint="debit",status="200"} 5.0' in metrics
    assert 'wallet_errors_total{code="VALIDATION_ERROR",endpoint="debit"} 1.0' in metrics


def test_uwsgi_keeps_the_connection_alive(uwsgi_server):
    """Providers reuse connections: answers are framed, and the server does not hang up."""
    conn = http.client.HTTPConnection(uwsgi_server.removeprefix("http://"), timeout=10)
    conn.request("GET", "/health")
    first = conn.getresponse()
    first.read()
    sock = conn.sock
    conn.request("GET", "/health")
    second = conn.getresponse()
    second.read()
    assert (first.status, second.status) == (200, 200)
    assert sock is not None and conn.sock is sock
    conn.close()
