"""The open-loop generator (bench/loadgen.py) against a fake wallet on loopback: the counts
the `rate` scenario's money checks and report are computed from."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.loadgen import run_open_loop


class FakeWallet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body in one write, flushed after each request: written apart, Nagle's
    # algorithm holds the body for the client's delayed ACK, 40 ms an answer.
    wbufsize = 64 * 1024

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if b'"drop"' in body:
            self.close_connection = True  # no answer: the connection ends under the request
            return
        refuse = b'"refuse"' in body
        answer = b'{"code":"INSUFFICIENT_FUNDS","message":"x"}' if refuse else b'{"balance":1}'
        for kind in (b"tombstone", b"already_rolled_back"):
            if b'"%s"' % kind in body:
                answer = b'{"status":"%s","balance":1}' % kind
        self.send_response(402 if refuse else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if b'"again"' in body:
            self.send_header("idempotent-replayed", "true")
        if b'"close"' in body:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def raw(kind: str) -> bytes:
    body = b'{"n":"%s"}' % kind.encode()
    return (
        b"POST /api/v1/wallet/debit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def run_against_fake(requests: list[bytes], rate: float, connections: int):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeWallet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return run_open_loop(
            host="127.0.0.1", port=server.server_port, requests=requests, rate=rate, connections=connections
        )
    finally:
        server.shutdown()
        server.server_close()


def test_every_answer_is_counted_by_status_code_and_replay_and_keeps_the_rate():
    kinds = ["new"] * 200 + ["again"] * 20 + ["refuse"] * 10 + ["close"] * 5
    result = run_against_fake([raw(kind) for kind in kinds], rate=500, connections=4)
    assert len(result.latencies_us) == len(kinds)
    assert result.statuses == {200: 225, 402: 10}
    assert result.codes == {"INSUFFICIENT_FUNDS": 10}
    assert result.replayed == 20
    assert result.socket_errors == 0
    # 235 requests at 500/s: the last is due at 0.468 s, and none is sent before it is due.
    assert result.duration_s >= 0.46  # no upper bound: how fast a test VM runs is not the code's
    assert all(latency > 0 for latency in result.latencies_us)


def test_a_connection_lost_under_a_request_is_a_socket_error_and_the_run_goes_on():
    kinds = ["new"] * 30 + ["drop"] * 3 + ["new"] * 30
    result = run_against_fake([raw(kind) for kind in kinds], rate=1000, connections=2)
    assert result.socket_errors == 3
    assert result.statuses == {200: 60}
    assert len(result.latencies_us) == 60


def test_a_rollback_that_books_nothing_is_counted_apart_as_the_wrk_script_counts_it():
    # The rate:mixed scenario's money check subtracts them from the accepted answers.
    kinds = ["new"] * 20 + ["tombstone"] * 3 + ["already_rolled_back"] * 2
    result = run_against_fake([raw(kind) for kind in kinds], rate=1000, connections=2)
    assert result.statuses == {200: 25}
    assert result.booking_nothing == 5
