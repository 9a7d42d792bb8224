import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import testcases

# The live server's listen backlog is socketserver's 5: the HTTP race tests open two dozen
# connections at one instant, and a busy machine then resets some before they are accepted.
ThreadedWSGIServer.request_queue_size = 128


def _production_application() -> object:
    """What casino_platform.wsgi serves: the wallet callbacks' front before Django's handler."""
    from wallet.api.front import WalletCallbackFront

    return WalletCallbackFront(WSGIHandler())


# The live server builds its application from this name (LiveServerThread.run): tests over a
# socket then hit the wallet callbacks through the same front as production does.
testcases.WSGIHandler = _production_application  # type: ignore[attr-defined,assignment]


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


def _force_login_with_the_second_factor(original):
    def force_login(self, user, backend=None):
        original(self, user, backend)
        if not user.is_staff:
            return
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # what django_otp.login() keeps
        session.save()

    return force_login


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    """A test client's force_login stands for a whole sign-in to the back office, so the second
    factor's too (STAFF_SECOND_FACTOR): the member of staff gets an authenticator app, and the
    session the mark of having passed with it. The second factor itself is tested over HTTP
    as a browser signs in (casino_platform/tests/test_second_factor.py)."""
    from django.test import Client

    monkeypatch.setattr(Client, "force_login", _force_login_with_the_second_factor(Client.force_login))
