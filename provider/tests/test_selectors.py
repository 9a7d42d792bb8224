"""The provider lookup on every wallet call: cached, and bounded against whoever calls."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provider import selectors
from provider.selectors import CACHE_MAX_ENTRIES, provider_auth_info
from provider.tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db


def test_a_known_provider_is_read_once_then_served_from_the_cache():
    provider = ProviderFactory()
    assert provider_auth_info(code=provider.code).provider == provider
    with CaptureQueriesContext(connection) as queries:
        assert provider_auth_info(code=provider.code).provider == provider
    assert len(queries) == 0


@pytest.mark.parametrize("code", ["sand\x00box", "x" * 65, "with space", "sändbox", ""])
def test_what_no_code_can_be_names_no_provider_and_asks_nothing_of_the_database(code):
    with CaptureQueriesContext(connection) as queries:
        assert provider_auth_info(code=code) is None
    assert len(queries) == 0
    assert code not in selectors._cache


def test_a_code_saved_before_codes_were_slugs_is_still_found():
    provider = ProviderFactory(code="acme.eu")
    assert provider_auth_info(code="acme.eu").provider == provider


def test_unknown_codes_do_not_grow_the_cache_without_bound():
    known = ProviderFactory()
    provider_auth_info(code=known.code)
    for n in range(3 * CACHE_MAX_ENTRIES):
        assert provider_auth_info(code=f"nobody-{n}") is None
        assert len(selectors._cache) <= CACHE_MAX_ENTRIES
    # A known provider is still found after its entry was dropped with the rest.
    assert provider_auth_info(code=known.code).provider == known
