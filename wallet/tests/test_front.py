"""The wallet callbacks' WSGI front (wallet/api/front.py): what production serves, over a
socket, against what Django's whole handler answers for the same requests."""

import re
import time

import orjson
import pytest
import requests
from django.core.cache import caches, close_caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.handlers.base import reset_urlconf
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, connections, reset_queries
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import get_urlconf
from prometheus_client import REGISTRY

from casino_platform.wsgi import application
from provider.signing import sign_request
from wallet.api import front as front_module
from wallet.api.front import REQUEST_FINISHED, REQUEST_STARTED, WalletCallbackFront, initialized_connections
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient, debit_payload, launch

# The live server runs in its own thread with its own database connection.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(db):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))


@pytest.fixture
def live(live_server, seeded):
    return ProviderClient(base_url=live_server.url, session=requests.Session())


@pytest.fixture
def token(seeded):
    return launch("p_demo_1")


def debit(token, tx="front-1", amount=250):
    return debit_payload(token, tx, amount)


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_production_serves_the_front():
    assert isinstance(application, WalletCallbackFront)


def test_a_debit_over_the_socket_is_answered_by_the_front(live, token):
    before = sample("wallet_request_duration_seconds_count", endpoint="debit", status="200")
    r = live.post("debit", debit(token), headers={"X-Trace-Id": "trace-front-1"})
    assert r.status == 200, r.body
    assert r.body["balance"] == 99_750
    assert Wallet.objects.get(player__player_id="p_demo_1").balance == 99_750
    assert r.headers["X-Trace-Id"] == "trace-front-1"
    assert int(r.headers["Content-Length"]) == len(orjson.dumps(r.body))
    # SecurityMiddleware ran; the browser half of the stack did not.
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "X-Frame-Options" not in r.headers
    assert "Vary" not in r.headers
    # The metrics timed it (the live server shares this process's registry).
    assert sample("wallet_request_duration_seconds_count", endpoint="debit", status="200") == before + 1


def test_front_and_django_handler_give_the_same_answers(live, token, client):
    """The same calls through the front (socket) and Django's whole handler (test client)."""
    through_django = ProviderClient(client)
    cases = [
        ("debit", debit(token, "same-1")),  # accepted
        ("debit", debit(token, "same-1")),  # its replay
        ("debit", debit(token, "same-2", amount=10**9)),  # INSUFFICIENT_FUNDS
        ("credit", {"transaction_id": "same-3", "player_id": "p_demo_1", "round_id": "nope", "game_id": "x"}),
        ("balance", {"player_id": "p_demo_1", "currency": "EUR"}),
    ]
    for endpoint, payload in cases:
        front = live.post(endpoint, payload)
        # The second client repeats the call: its answer is a replay of the first, or the same refusal.
        django = through_django.post(endpoint, payload)
        assert front.status == django.status, (endpoint, front.body, django.body)
        assert {k: v for k, v in front.body.items() if k != "trace_id"} == {
            k: v for k, v in django.body.items() if k != "trace_id"
        }
        for header in ("X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy", "Retry-After"):
            assert front.headers.get(header) == django.headers.get(header), header
        # Every header the front writes, Django's handler writes alike (it adds its other
        # middlewares' too); the live server adds Date and Server.
        for header, value in front.headers.items():
            if header.lower() in ("date", "server", "x-trace-id", "x-timestamp", "x-signature", "content-length"):
                continue
            assert django.headers.get(header) == value, (endpoint, header)
        assert int(front.headers["Content-Length"]) == len(orjson.dumps(front.body))
        assert front.headers.get("X-Trace-Id") and django.headers.get("X-Trace-Id")


def test_an_accepted_answer_over_tls_carries_hsts_as_djangos_does(seeded, settings):
    """Accepted callbacks take SecurityMiddleware's headers as it computed them for a request
    over TLS or not, without a response object: HSTS only over TLS, as Django's path."""
    settings.SECURE_HSTS_SECONDS = 3600
    front = WalletCallbackFront(application.application)  # the middleware reads its settings once
    environ = _environ()
    status, headers, body = _call(front, environ)
    assert status == "200 OK", body
    assert "Strict-Transport-Security" not in headers
    environ = _environ()
    environ["wsgi.url_scheme"] = "https"
    status, headers, body = _call(front, environ)
    assert status == "200 OK", body
    assert headers["Strict-Transport-Security"] == "max-age=3600"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert int(headers["Content-Length"]) == len(body)
    request = RequestFactory().get("/", secure=True)
    django_headers = front.security.process_response(request, HttpResponse())
    assert headers["Strict-Transport-Security"] == django_headers["Strict-Transport-Security"]


def test_errors_are_counted_by_code(live, token):
    before = sample("wallet_errors_total", endpoint="debit", code="INSUFFICIENT_FUNDS")
    r = live.post("debit", debit(token, "broke-1", amount=10**9))
    assert r.status == 402 and r.body["code"] == "INSUFFICIENT_FUNDS"
    assert sample("wallet_errors_total", endpoint="debit", code="INSUFFICIENT_FUNDS") == before + 1


def test_unsigned_and_unknown_paths(live, live_server):
    r = requests.post(live_server.url + "/api/v1/wallet/debit", data=b"{}", timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "UNKNOWN_PROVIDER"
    assert r.headers["X-Trace-Id"]
    # Not one of the five callbacks: Django's handler and its JSON 404, whole stack.
    r = requests.post(live_server.url + "/api/v1/wallet/nope", data=b"{}", timeout=10)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    assert r.headers["X-Frame-Options"] == "DENY"


def _environ(path="/api/v1/wallet/balance", body=b'{"player_id": "p_demo_1", "currency": "EUR"}'):
    ts = str(int(time.time()))
    signature = sign_request(secret="sandbox-secret", timestamp=ts, method="POST", path=path, body=body)
    return (
        RequestFactory()
        .generic(
            "POST",
            path,
            data=body,
            content_type="application/json",
            headers={"X-Provider-Id": "sandbox", "X-Timestamp": ts, "X-Signature": signature},
        )
        .environ
    )


def _call(front, environ):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(front(environ, start_response))
    return seen["status"], seen["headers"], body


def test_an_exception_escaping_the_view_is_djangos_json_500(seeded, settings, monkeypatch):
    settings.DEBUG = False
    front = WalletCallbackFront(application.application)

    def broken(request):
        raise RuntimeError("boom")

    monkeypatch.setattr(front.security, "process_request", broken)
    status, headers, body = _call(front, _environ())
    assert status.startswith("500 ")
    assert orjson.loads(body)["code"] == "INTERNAL_ERROR"
    assert headers["X-Trace-Id"]
    assert int(headers["Content-Length"]) == len(body)  # framed, so a kept-alive client is not left waiting


def test_refusals_are_logged_with_their_trace_id(seeded, caplog):
    front = WalletCallbackFront(application.application)
    environ = _environ()
    environ["HTTP_X_SIGNATURE"] = "0" * 64
    environ["HTTP_X_TRACE_ID"] = "trace-refused"
    with caplog.at_level("WARNING", logger="django.request"):
        status, _, body = _call(front, environ)
    assert status.startswith("401 ") and orjson.loads(body)["code"] == "INVALID_SIGNATURE"
    assert [r.status_code for r in caplog.records if r.name == "django.request"] == [401]


def test_a_metrics_fault_does_not_fail_the_answer(seeded, monkeypatch, caplog):
    from wallet.api import front as front_module

    def broken(*args, **kwargs):
        raise OSError("metrics directory gone")

    monkeypatch.setattr(front_module, "record_wallet_request", broken)
    monkeypatch.setattr(front_module, "record_wallet_answer", broken)
    front = WalletCallbackFront(application.application)
    status, _, body = _call(front, _environ())
    assert status.startswith("200 ") and orjson.loads(body)["balance"] == 100_000
    assert "wallet metrics could not be recorded" in caplog.text
    caplog.clear()
    unsigned = _environ()
    unsigned["HTTP_X_SIGNATURE"] = "0" * 64
    status, _, body = _call(front, unsigned)
    assert status.startswith("401 ") and orjson.loads(body)["code"] == "INVALID_SIGNATURE"
    assert "wallet metrics could not be recorded" in caplog.text


def test_a_stale_database_connection_is_replaced_before_the_callback(seeded):
    front = WalletCallbackFront(application.application)
    connection.ensure_connection()
    stale = connection.connection
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    status, _, body = _call(front, _environ())
    assert status.startswith("200 "), body
    assert connection.connection is not stale


def test_the_front_runs_what_djangos_request_signals_run():
    """A receiver added to either signal (by Django or an app) must be added to the front too.
    (Django's test client takes close_old_connections off and puts it back, so the order, and
    for a moment the presence, of that one varies.) The start's two run as one loop,
    request_started_housekeeping: a third one must be added there, and one at the end to
    request_finished_housekeeping."""
    assert {r() for _, r, *_ in request_started.receivers} <= set(REQUEST_STARTED)
    assert {r() for _, r, *_ in request_finished.receivers} <= set(REQUEST_FINISHED)
    assert REQUEST_STARTED == (reset_queries, close_old_connections)
    # What request_finished_housekeeping does, receiver by receiver (its docstring says how).
    assert REQUEST_FINISHED == (close_old_connections, close_caches, reset_urlconf)


def test_a_connection_that_grew_obsolete_during_the_callback_is_closed_after_it(seeded, monkeypatch):
    """The end's close_old_connections: a connection past CONN_MAX_AGE is closed when the
    callback ends, not left open until the thread's next request."""
    front = WalletCallbackFront(application.application)
    record = front_module.record_wallet_answer

    def age_the_connection(*args, **kwargs):
        record(*args, **kwargs)
        connection.close_at = time.monotonic() - 1

    monkeypatch.setattr(front_module, "record_wallet_answer", age_the_connection)
    status, _, body = _call(front, _environ())
    assert status.startswith("200 "), body
    assert connection.connection is None


def test_initialized_connections_are_djangos_listing():
    connection.close()
    del connections["default"]  # this thread has not touched the database yet
    assert initialized_connections() == connections.all(initialized_only=True) == []
    connections["default"]
    assert initialized_connections() == connections.all(initialized_only=True) == [connections["default"]]


class ClosingCache(LocMemCache):
    closed = 0

    def close(self, **kwargs):
        type(self).closed += 1


def test_caches_are_closed_only_when_a_backend_has_something_to_close(seeded, settings):
    """close_caches runs for a backend with a close() of its own, and is skipped for those
    without, such as production's Redis."""
    front = WalletCallbackFront(application.application)
    assert not front_module.caches_close_something()  # the test settings' cache
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}}
    assert not front_module.caches_close_something()
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.ClosingCache"}}
    assert front_module.caches_close_something()
    caches["default"].get("front-test")  # close_caches closes the caches this thread has used
    status, _, body = _call(front, _environ())
    assert status.startswith("200 "), body
    assert ClosingCache.closed == 1


def test_a_callback_leaves_no_urlconf_behind(seeded):
    """Why the front does not run reset_urlconf: only a request that set its own URLconf
    (Django's handler does, for every request it serves) has one to reset."""
    status, _, body = _call(WalletCallbackFront(application.application), _environ())
    assert status.startswith("200 "), body
    assert get_urlconf() is None


def test_a_host_once_allowed_is_refused_when_allowed_hosts_change(seeded, settings):
    settings.DEBUG = False
    front = WalletCallbackFront(application.application)
    environ = _environ()
    environ["HTTP_HOST"] = "wallet.example"
    settings.ALLOWED_HOSTS = ["wallet.example"]
    status, _, body = _call(front, dict(environ))
    assert status.startswith("200 "), body
    settings.ALLOWED_HOSTS = ["other.example"]
    status, _, body = _call(front, dict(environ))
    assert status.startswith("400 ") and orjson.loads(body)["code"] == "VALIDATION_ERROR"


def test_only_allowed_hosts_are_remembered_and_at_most_64(seeded, settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [".example"]
    front = WalletCallbackFront(application.application)
    for n in range(80):
        environ = _environ()
        environ["HTTP_HOST"] = f"h{n}.example"
        assert _call(front, environ)[0].startswith("200 ")
    for _ in range(2):
        environ = _environ()
        environ["HTTP_HOST"] = "evil.test"
        assert _call(front, environ)[0].startswith("400 ")
    assert len(front_module.allowed_hosts_seen) == 64
    assert "evil.test" not in front_module.allowed_hosts_seen


@pytest.mark.parametrize("given", ["abc\n", "abc\r\n", "a" * 65, "bad id", ""])
def test_an_unusable_trace_id_is_replaced_never_echoed(seeded, given):
    """A trace id with a line break (which the pattern's $ would have let through) or
    anything else outside the pattern is replaced by a generated one."""
    environ = _environ()
    environ["HTTP_X_TRACE_ID"] = given
    status, headers, body = _call(WalletCallbackFront(application.application), environ)
    assert status.startswith("200 "), body
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Trace-Id"])


def test_the_query_log_is_reset_before_the_callback(seeded):
    connection.ensure_connection()
    connection.queries_log.append({"sql": "SELECT 'from an earlier request'", "time": "0.000"})
    status, _, body = _call(WalletCallbackFront(application.application), _environ())
    assert status.startswith("200 "), body
    assert not any("earlier request" in query["sql"] for query in connection.queries_log)


def test_a_callback_for_a_host_not_allowed_is_refused_and_moves_nothing(seeded, token, settings):
    settings.DEBUG = False
    body = orjson.dumps(debit(token, tx="front-evil-host"))
    environ = _environ(path="/api/v1/wallet/debit", body=body)
    environ["HTTP_HOST"] = "evil.example"
    balance = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR").balance
    status, headers, answer = _call(WalletCallbackFront(application.application), environ)
    assert status.startswith("400 ")
    assert orjson.loads(answer)["code"] == "VALIDATION_ERROR"
    assert int(headers["Content-Length"]) == len(answer)
    assert Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR").balance == balance
    # The same request with an allowed Host is booked.
    environ = _environ(path="/api/v1/wallet/debit", body=body)
    status, _, _ = _call(WalletCallbackFront(application.application), environ)
    assert status.startswith("200 ")
