import pytest
from django.core.servers.basehttp import ThreadedWSGIServer

# The live server's listen backlog is socketserver's 5: the HTTP race tests open two dozen
# connections at one instant, and a busy machine then resets some before they are accepted.
ThreadedWSGIServer.request_queue_size = 128


@pytest.fixture(autouse=True)
def _fresh_provider_cache():
    """Each test's database is new; so must be the in-process caches of rows that, in
    production, are never deleted (providers, accounts) or change rarely (switches)."""
    from ledger.services import ledger_account_cache_clear
    from provider.selectors import provider_cache_clear
    from sessions.services import platform_switch_cache_clear

    for clear in (provider_cache_clear, ledger_account_cache_clear, platform_switch_cache_clear):
        clear()
    yield
    for clear in (provider_cache_clear, ledger_account_cache_clear, platform_switch_cache_clear):
        clear()
