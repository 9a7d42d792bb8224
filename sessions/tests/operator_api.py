"""The operator API's endpoints as the URL conf holds them, for tests that go over all of them."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

from sessions.api.auth import OperatorApiKeyAuthentication

METHODS = ("get", "post", "put", "delete")


def operator_views() -> dict[str, tuple[str, type]]:
    """Every view that takes an operator key, by URL name: (route, view class)."""
    found = {}

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None)
                if OperatorApiKeyAuthentication in getattr(view_class, "authentication_classes", ()):
                    found[pattern.name] = (prefix + str(pattern.pattern), view_class)

    walk(get_resolver().url_patterns)
    return found


def route_parameters(route: str) -> list[tuple[str, str]]:
    """A route's parameters, each (converter, name): `<int:session_id>` is ("int", "session_id")."""
    return [(converter or "str", name) for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", route)]
