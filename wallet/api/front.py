"""The WSGI front of the wallet callbacks: the five contract paths go from the server
straight to their view; every other request goes to Django's handler untouched.

A callback is signed, stateless JSON between servers. Django's handler spent about 30% of a
callback's Python CPU on what a callback never uses: the middleware chain and its exception
wrappers, URL resolution, four signal sends and the response's close
(`make bench BENCH_ARGS="--server uwsgi --profile debit:8"`). The front keeps what a
callback does need from that stack, by calling the same code:

- the trace id (`casino_platform.tracing`), bound for the request's log lines and echoed;
- the Prometheus timing and error counts (`casino_platform.metrics`);
- the Host check against ALLOWED_HOSTS that CommonMiddleware makes (judged once per Host
  header), and Django's SecurityMiddleware, request and response halves (an accepted
  answer takes the response half's headers as the middleware computed them, without a
  response object);
- the request_started / request_finished housekeeping: stale or broken database
  connections are closed at the start and at the end, query logs reset at the start, and
  caches closed where a configured backend has something to close (`test_front.py` fails
  if a new receiver appears on those signals, so that it is not silently skipped here);
- Django's own answer to an exception that escapes (`response_for_exception`: logged, the
  contract's JSON 500 for API paths).

Served from `casino_platform.wsgi.application`, so gunicorn, runserver, the bench's
comparison servers and the tests' live server all take it.
"""

import logging
from collections.abc import Callable, Iterable
from functools import cache
from time import perf_counter
from typing import Any

from django.conf import settings
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.handlers.base import reset_urlconf
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response
from django.utils.module_loading import import_string

from casino_platform.db import initialized_connections
from casino_platform.metrics import WALLET_PREFIX, record_wallet_answer, record_wallet_request
from casino_platform.tracing import traced

from .urls import CALLBACK_VIEWS
from .views import JSON, WalletApiView

logger = logging.getLogger(__name__)

WsgiApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The functions Django's request signals run (test_front.py holds these to Django's receivers);
# a callback runs what they do by the functions below.
Housekeeping = Callable[..., None]
REQUEST_STARTED: tuple[Housekeeping, ...] = (reset_queries, close_old_connections)
REQUEST_FINISHED: tuple[Housekeeping, ...] = (close_old_connections, close_caches, reset_urlconf)


def request_started_housekeeping() -> None:
    """What REQUEST_STARTED's two functions do, over one listing of this thread's connections."""
    for conn in initialized_connections():
        conn.queries_log.clear()  # reset_queries
        conn.close_if_unusable_or_obsolete()  # close_old_connections


def request_finished_housekeeping() -> None:
    """What REQUEST_FINISHED's functions do for a callback:
    - close_old_connections: connections past CONN_MAX_AGE or broken are closed now, not left
      open until the thread's next request;
    - close_caches, only if a configured cache backend has a close() of its own: Django's
      Redis, local-memory, database, file and dummy caches have none to run;
    - reset_urlconf not at all: it undoes a request's own URLconf, which Django's handler
      sets and the callback path never does (test_front.py checks a callback leaves none)."""
    for conn in initialized_connections():
        conn.close_if_unusable_or_obsolete()
    if caches_close_something():
        close_caches()


@cache
def caches_close_something() -> bool:
    """Whether close_caches() would do anything with the configured caches (CACHES)."""
    return any(import_string(conf["BACKEND"]).close is not BaseCache.close for conf in settings.CACHES.values())


# Host headers get_host() allowed: the settings it judges by are fixed while serving.
allowed_hosts_seen: set[str] = set()


def _forget_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        caches_close_something.cache_clear()
    if setting in ("ALLOWED_HOSTS", "DEBUG"):  # what get_host() judges a Host by
        allowed_hosts_seen.clear()


setting_changed.connect(_forget_on_setting_changed)


def _unused_get_response(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    raise AssertionError("SecurityMiddleware is called by halves here")


class _SecurityProbe(HttpRequest):
    def __init__(self, secure: bool):
        super().__init__()
        self.secure = secure

    def is_secure(self) -> bool:
        return self.secure


class WalletCallbackFront:
    def __init__(self, application: WsgiApplication):
        self.application = application
        self.views = {WALLET_PREFIX + name: (name, view) for name, view in CALLBACK_VIEWS.items()}
        self.security = SecurityMiddleware(_unused_get_response)
        # The headers SecurityMiddleware's response half adds to an answer that has none of
        # them, as it adds them, for a request over TLS and for one not: accepted callbacks
        # take them from here instead of through a response object (see __call__).
        self.security_headers = {secure: self._headers_security_adds(secure) for secure in (False, True)}
        # Only HSTS tells the two apart; without it no accepted callback needs is_secure().
        self.security_headers_need_tls_check = self.security_headers[True] != self.security_headers[False]

    def _headers_security_adds(self, secure: bool) -> list[tuple[str, str]]:
        plain = HttpResponse()
        before = dict(plain.items())
        after = self.security.process_response(_SecurityProbe(secure), plain)
        return [(name, value) for name, value in after.items() if before.get(name) != value]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = self.views.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.application(environ, start_response)
        endpoint, view_class = route
        request_started_housekeeping()
        try:
            request = WSGIRequest(environ)
            with traced(request) as trace_id:
                status, headers, content = self._answer(request, endpoint, view_class)
            headers.append(("X-Trace-Id", trace_id))
            start_response(status, headers)
            return [content]
        finally:
            request_finished_housekeeping()

    def _answer(
        self, request: WSGIRequest, endpoint: str, view_class: type[WalletApiView]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        started = perf_counter()
        try:
            self._check_host(request)
            response: HttpResponse | None = self.security.process_request(request)
            if response is None:
                answer = view_class().answer(request)
                if answer.status == 200:
                    # Accepted, the callbacks' common case: written as Django would write its
                    # response, without building one (HttpResponse's header handling and
                    # SecurityMiddleware's cost 4-5% of a debit's instructions).
                    replayed = "Idempotent-Replayed" in answer.headers
                    self._record(
                        lambda: record_wallet_answer(endpoint, 200, replayed=replayed, elapsed=perf_counter() - started)
                    )
                    secure = self.security_headers_need_tls_check and request.is_secure()
                    headers = [("Content-Type", JSON), *answer.headers.items(), *self.security_headers[secure]]
                    return "200 OK", headers, answer.content
                response = answer.as_response()
            response = self.security.process_response(request, response)
            if response.status_code >= 400:
                # As Django's handler does: a warning (4xx) or error (5xx) with the trace id.
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        except Exception as exc:  # what Django's handler would answer, logged as it would be
            response = response_for_exception(request, exc)
        assert response is not None
        self._record(lambda: record_wallet_request(endpoint, response, perf_counter() - started))
        if not response.has_header("Content-Length"):
            # Django's own error pages carry none; without it a kept-alive answer is unframed.
            response["Content-Length"] = str(len(response.content))
        return f"{response.status_code} {response.reason_phrase}", list(response.items()), response.content

    def _check_host(self, request: WSGIRequest) -> None:
        """ALLOWED_HOSTS, as CommonMiddleware checks it on Django's path (DisallowedHost: 400),
        judged once per Host a caller sends: providers send one or two, and the check cost
        5% of a debit's instructions. Only allowed hosts are kept, at most 64."""
        host = request._get_raw_host()  # type: ignore[attr-defined]  # what get_host() judges
        if host not in allowed_hosts_seen:
            request.get_host()
            if len(allowed_hosts_seen) < 64:
                allowed_hosts_seen.add(host)

    @staticmethod
    def _record(metrics: Callable[[], None]) -> None:
        try:
            metrics()
        except Exception:  # the money has moved: a metrics fault must not turn the answer into a 500
            logger.exception("wallet metrics could not be recorded")
