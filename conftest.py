import pytest


@pytest.fixture(autouse=True)
def _fresh_provider_cache():
    """Each test's database is new; so must be the in-process provider cache."""
    from provider.selectors import provider_cache_clear

    provider_cache_clear()
    yield
    provider_cache_clear()
