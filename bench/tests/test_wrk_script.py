"""The load generator's Lua script (bench/wrk_wallet.lua) against a fake wallet on loopback:
its counts are what the run's money checks are computed from."""

import argparse
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.run import run_wrk, write_requests

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")


class FakeWallet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    answered: dict[str, int] = {"replayed": 0, "refused": 0, "all": 0}

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        replay, refuse = b'"again"' in body, b'"refuse"' in body
        answer = b'{"code":"INSUFFICIENT_FUNDS"}' if refuse else b'{"balance":1}'
        self.send_response(402 if refuse else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if replay:
            # Lower case, as granian writes every field name.
            self.send_header("idempotent-replayed", "true")
        self.end_headers()
        self.wfile.write(answer)
        with self.lock:
            self.answered["all"] += 1
            self.answered["replayed"] += replay
            self.answered["refused"] += refuse

    def log_message(self, *args):
        pass


def _wrk_against(handler: type[BaseHTTPRequestHandler], lines: list, tmp_path) -> dict:
    """The script's summary of one second of wrk, 2 connections, against `handler` on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result, _ = run_wrk(
            argparse.Namespace(), write_requests(tmp_path / "r.tsv", lines), 2, 1, port=server.server_port
        )
    finally:
        server.shutdown()
        server.server_close()
    return result


def test_replays_in_lower_case_and_refusal_codes_are_counted(tmp_path):
    lines = [
        (lane, "/api/v1/wallet/debit", "1", "sig", body)
        for lane in range(4)
        for body in (b'{"n":"new"}', b'{"n":"again"}', b'{"n":"refuse"}')
    ]
    result = _wrk_against(FakeWallet, lines, tmp_path)
    sent = FakeWallet.answered
    assert sent["all"] > 12
    # wrk counts the answers it read before it stopped; at most one per connection is cut off.
    assert result["replayed"] > 0
    assert 0 <= sent["replayed"] - result["replayed"] <= 2
    assert 0 <= sent["refused"] - result["codes"]["INSUFFICIENT_FUNDS"] <= 2


class RecordingWallet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    bodies: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_every_call_is_sent_once_the_first_of_each_thread_included(tmp_path):
    """wrk asks the first thread's script for a request before the run, to check it; that one
    must not be taken from the calls, or the run's first bet is never sent."""
    # More calls than the fake wallet answers in a second, so none is sent twice by wrapping.
    lines = [(n % 2, "/api/v1/wallet/debit", "1", "sig", f'{{"n":{n}}}'.encode()) for n in range(50_000)]
    result = _wrk_against(RecordingWallet, lines, tmp_path)
    sent = RecordingWallet.bodies
    assert result["exhausted"] == 0
    assert len(sent) == len(set(sent)) > 10
    # Lane 0 goes to the first thread, lane 1 to the second: both threads' first calls arrived.
    assert {b'{"n":0}', b'{"n":1}'} <= set(sent)
