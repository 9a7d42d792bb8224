"""Wallet callbacks skip the browser half of the middleware stack."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from casino_platform.metrics import WALLET_PREFIX


class WalletCallbackMiddleware:
    """Signed, stateless JSON between servers: sessions, CSRF, authentication, messages,
    slash-appending and frame options mean nothing to a wallet callback, and that part of the
    stack cost ~14% of a callback's Python CPU (`make bench BENCH_ARGS="--profile debit:8"`).
    Placed after tracing, metrics and SecurityMiddleware, it sends wallet paths straight to
    their view; every other path, and an unknown wallet path, takes the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(WALLET_PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)  # the contract's JSON 404, as for any path
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
