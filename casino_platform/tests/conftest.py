import pytest


@pytest.fixture
def plain_http(settings):
    """The live server speaks HTTP without TLS, over which a client sends no secure cookie."""
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False
